"""The Lua scripts behind :class:`worker.ratelimit.redis.RedisRateLimiter`.

All times are seconds on Redis's own clock (``TIME``), carried as ``%.17g`` strings so that
a double survives the round trip through Redis exactly. Rates are calls per second.
Each script reads the run-time budget override, so a change applies on the next call.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "SHARES", "STATE", "THROTTLE"]

_PRELUDE = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function fmt(x)
  return string.format('%.17g', x)
end

-- the Region's run-time override (set_budget), else the override for every Region
-- (set_default_budget; the same key for a limiter without a Region), else the configured
-- default
local function budget_of(key, every_region_key, default)
  for _, k in ipairs({key, every_region_key}) do
    local v = redis.call('GET', k)
    if v then
      local n = tonumber(v)
      if n and n > 0 then return n end
    end
  end
  return tonumber(default)
end

-- A GCRA's theoretical arrival time is stored with the period it was advanced by
-- ("<tat> <period>"), so a rate change (a new budget, a throttle) rebases it: the next
-- grant comes one *current* period after the last one, in both directions.
local function read_tat(v, period)
  if not v then return nil end
  local t, p = string.match(v, '^(%S+) (%S+)$')
  if t then return tonumber(t) - tonumber(p) + period end
  return tonumber(v)
end

local function write_tat(key, tat, period, now)
  redis.call('SET', key, fmt(tat) .. ' ' .. fmt(period), 'PX', math.ceil((tat - now) * 1000) + 1000)
end

-- The adaptive state lives in the `adapt` hash: `rate` and `at` (the rate set by the last
-- counted throttle and when), `ceiling` (the highest rate believed to pass then), `q`
-- (the accepted calls/s measured at a throttle, once one was), `throttles`, and a sliding
-- count of calls: `w` (window start), `g` (grants in the window), `x` (throttle reports in
-- the window), `pe` and `pg` (accepted and granted calls/s of the window before). The hash
-- exists only once a throttle was counted.

-- the rate `since` seconds after a decrease to `base`: a linear climb at `slope` up to the
-- plateau just below the ceiling, held until `hold` seconds after the decrease, then a
-- linear climb again (a probe for quota freed since)
local function recovered(base, ceiling, since, slope, hold, margin)
  local plateau = math.max(base, ceiling * (1 - margin))
  return math.min(plateau, base + slope * since) + slope * math.max(0, since - hold)
end

-- the current adaptive rate, whether any throttle was ever counted, and the measured
-- quota (nil before a measurement). The climb is tied to what was found, never to the
-- budget: `max(ceiling, base) / recovery` calls/s per second.
local function rate_of(adapt_key, budget, floor, recovery, margin, now)
  local v = redis.call('HMGET', adapt_key, 'rate', 'at', 'ceiling', 'q')
  local rate = budget
  local base, at = tonumber(v[1]), tonumber(v[2])
  local adapted = false
  if base and at then
    adapted = true
    local ceiling = tonumber(v[3]) or budget
    local slope = math.max(ceiling, base, floor) / recovery
    rate = recovered(base, ceiling, math.max(0, now - at), slope, recovery, margin)
  end
  if rate > budget then rate = budget end
  if rate < floor then rate = floor end
  return rate, adapted, tonumber(v[4])
end

-- count one grant (`g`) or one throttle report (`x`) in the sliding window
local function tally(adapt_key, now, field)
  local v = redis.call('HMGET', adapt_key, 'w', 'g', 'x')
  local w = tonumber(v[1])
  if not w or now - w >= 1 then
    local pe, pg = 0, 0
    if w and now > w then
      local g = tonumber(v[2]) or 0
      pe = (g - (tonumber(v[3]) or 0)) / (now - w)
      pg = g / (now - w)
    end
    redis.call('HSET', adapt_key, 'w', fmt(now), 'g', 0, 'x', 0, 'pe', fmt(pe), 'pg', fmt(pg))
  end
  redis.call('HINCRBY', adapt_key, field, 1)
end

-- calls Cognito accepted (grants minus throttles) and calls granted, per second, in about
-- the last second; nil when nothing was counted yet
local function last_second(adapt_key, now)
  local v = redis.call('HMGET', adapt_key, 'w', 'g', 'x', 'pe', 'pg')
  local w = tonumber(v[1])
  if not w then return nil, nil end
  local g = tonumber(v[2]) or 0
  local n = g - (tonumber(v[3]) or 0)
  local span = now - w
  if span >= 1 then return math.max(0, n / span), g / span end
  local rest = 1 - span
  return math.max(0, n + (tonumber(v[4]) or 0) * rest), g + (tonumber(v[5]) or 0) * rest
end

-- the campaigns active in the last `window` seconds (`campaigns` zset: id -> last request;
-- `weights` hash: id -> weight), the others forgotten; returns the sum of their weights
local function active_weight(campaigns_key, weights_key, now, window)
  local stale = redis.call('ZRANGEBYSCORE', campaigns_key, '-inf', '(' .. fmt(now - window))
  for _, id in ipairs(stale) do
    redis.call('ZREM', campaigns_key, id)
    redis.call('HDEL', weights_key, id)
  end
  local total = 0
  for _, w in ipairs(redis.call('HVALS', weights_key)) do total = total + tonumber(w) end
  return total
end
"""

ACQUIRE = (
    _PRELUDE
    + """
-- KEYS: budget, adapt, tat, bulk_tat, waiting, budget for every Region, Regions seen;
--       for a campaign's bulk permit also: campaigns (zset), weights (hash), its own tat
-- ARGV: default budget, floor (calls/s), recovery seconds, bulk share, priority, token,
--       waiting-marker slack seconds, ceiling margin, burst tolerance (fraction of a period),
--       the Region ('' for a limiter without one), the campaign id ('' for none), its
--       weight, the seconds a campaign stays active after its last request, the burst
--       tolerance of a campaign's GCRA (fraction of its period)
-- returns {1, period (seconds, 1 / the rate granted at), now} when granted,
-- {0, wait seconds, now} when refused
local now = clock()
if ARGV[10] ~= '' then redis.call('SADD', KEYS[7], ARGV[10]) end
local budget = budget_of(KEYS[1], KEYS[6], ARGV[1])
local floor = math.min(budget, tonumber(ARGV[2]))
local rate, adapted = rate_of(KEYS[2], budget, floor, tonumber(ARGV[3]), tonumber(ARGV[8]), now)
local period = 1 / rate

-- GCRA with a burst tolerance of a fraction of a period: conforming when
-- tat - tolerance * period <= now
local tolerance = tonumber(ARGV[9])
local tat = read_tat(redis.call('GET', KEYS[3]), period) or now
if tat < now then tat = now end
local wait = tat - tolerance * period - now

local bulk = ARGV[5] == 'bulk'
local bulk_period, bulk_tat
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', fmt(now))
if bulk then
  -- an interactive caller is waiting for the next slot: leave it free
  if wait < period and redis.call('ZCARD', KEYS[5]) > 0 then wait = period end
  bulk_period = period / tonumber(ARGV[4])
  bulk_tat = read_tat(redis.call('GET', KEYS[4]), bulk_period) or now
  if bulk_tat < now then bulk_tat = now end
  local bulk_wait = bulk_tat - tolerance * bulk_period - now
  if bulk_wait > wait then wait = bulk_wait end
end

-- a campaign's share: the bulk rate split by weight between the campaigns active now
local campaign = bulk and ARGV[11] ~= ''
local share_period, share_tat
if campaign then
  local window, weight = tonumber(ARGV[13]), tonumber(ARGV[12])
  redis.call('ZADD', KEYS[8], fmt(now), ARGV[11])
  redis.call('HSET', KEYS[9], ARGV[11], ARGV[12])
  local ttl = math.ceil(window * 1000) + 1000
  redis.call('PEXPIRE', KEYS[8], ttl)
  redis.call('PEXPIRE', KEYS[9], ttl)
  share_period = bulk_period * active_weight(KEYS[8], KEYS[9], now, window) / weight
  share_tat = read_tat(redis.call('GET', KEYS[10]), share_period) or now
  if share_tat < now then share_tat = now end
  local share_wait = share_tat - tonumber(ARGV[14]) * share_period - now
  if share_wait > wait then wait = share_wait end
end

if wait > 0 then
  if not bulk then
    local deadline = now + wait + tonumber(ARGV[7])
    redis.call('ZADD', KEYS[5], fmt(deadline), ARGV[6])
    local ttl = math.ceil((deadline - now) * 1000)
    if redis.call('PTTL', KEYS[5]) < ttl then redis.call('PEXPIRE', KEYS[5], ttl) end
  end
  return {0, fmt(wait), fmt(now)}
end

write_tat(KEYS[3], tat + period, period, now)
if bulk then
  write_tat(KEYS[4], bulk_tat + bulk_period, bulk_period, now)
  if campaign then write_tat(KEYS[10], share_tat + share_period, share_period, now) end
else
  redis.call('ZREM', KEYS[5], ARGV[6])
end
if adapted then tally(KEYS[2], now, 'g') end
return {1, fmt(period), fmt(now)}
"""
)

THROTTLE = (
    _PRELUDE
    + """
-- KEYS: budget, adapt, budget for every Region
-- ARGV: default budget, floor (calls/s), recovery seconds, decrease factor, cooldown seconds,
--       ceiling margin
-- returns {1, new rate} when the report was counted, {0, rate} when inside the cooldown
local now = clock()
local budget = budget_of(KEYS[1], KEYS[3], ARGV[1])
local floor = math.min(budget, tonumber(ARGV[2]))
local recovery, margin = tonumber(ARGV[3]), tonumber(ARGV[6])
local decrease = tonumber(ARGV[4])
local rate, adapted = rate_of(KEYS[2], budget, floor, recovery, margin, now)
if adapted then tally(KEYS[2], now, 'x') end
local at = tonumber(redis.call('HGET', KEYS[2], 'at'))
local cooldown = math.max(tonumber(ARGV[5]), 1 / rate)
if at and now - at < cooldown then return {0, fmt(rate)} end
-- a fresh incident: multiplicative decrease; the rate it happened at is the ceiling
local new_rate, ceiling, measured = rate * decrease, rate, nil
if at and now - at <= 4 * recovery then
  -- throttled again within the memory of the last one: decrease from the rate calls were
  -- really sent at (a budget far above the demand means nothing), and settle just below
  -- what Cognito accepted in the last second when that is more; when most calls were
  -- refused, what passed is the quota: go straight under it
  local accepted, sent = last_second(KEYS[2], now)
  if accepted then
    local effective = rate
    if sent > 0 and sent < rate then effective = sent end
    measured = accepted
    ceiling = math.min(rate, accepted)
    if accepted >= floor and accepted < effective * decrease then
      new_rate = ceiling * (1 - margin)
    else
      new_rate = math.max(effective * decrease, ceiling * (1 - margin))
    end
  end
end
new_rate = math.max(floor, math.min(new_rate, rate))
redis.call('HSET', KEYS[2], 'rate', fmt(new_rate), 'at', fmt(now), 'ceiling', fmt(ceiling))
if measured then redis.call('HSET', KEYS[2], 'q', fmt(measured)) end
if not adapted then
  redis.call('HSET', KEYS[2], 'w', fmt(now), 'g', 0, 'x', 0, 'pe', 0, 'pg', 0)
end
redis.call('HINCRBY', KEYS[2], 'throttles', 1)
return {1, fmt(new_rate)}
"""
)

STATE = (
    _PRELUDE
    + """
-- KEYS: budget, adapt, budget for every Region
-- ARGV: default budget, floor (calls/s), recovery seconds, ceiling margin
-- returns {budget, rate, floor, last throttle at or '', throttles, observed quota or ''}
-- (the observed quota: the accepted calls/s measured at the last throttles, while the
-- rate is still below the budget)
local now = clock()
local budget = budget_of(KEYS[1], KEYS[3], ARGV[1])
local floor = math.min(budget, tonumber(ARGV[2]))
local rate, _, quota = rate_of(KEYS[2], budget, floor, tonumber(ARGV[3]), tonumber(ARGV[4]), now)
local v = redis.call('HMGET', KEYS[2], 'at', 'throttles')
local observed = ''
if quota and rate < budget then observed = fmt(quota) end
return {fmt(budget), fmt(rate), fmt(floor), v[1] or '', tonumber(v[2]) or 0, observed}
"""
)

SHARES = (
    _PRELUDE
    + """
-- KEYS: budget, adapt, budget for every Region, campaigns (zset), weights (hash)
-- ARGV: default budget, floor (calls/s), recovery seconds, ceiling margin, bulk share,
--       the seconds a campaign stays active after its last request
-- returns {bulk rate, id, weight, id, weight, ...} for the campaigns active now
local now = clock()
local budget = budget_of(KEYS[1], KEYS[3], ARGV[1])
local floor = math.min(budget, tonumber(ARGV[2]))
local rate = rate_of(KEYS[2], budget, floor, tonumber(ARGV[3]), tonumber(ARGV[4]), now)
local out = {fmt(rate * tonumber(ARGV[5]))}
local active = redis.call('ZRANGEBYSCORE', KEYS[4], fmt(now - tonumber(ARGV[6])), '+inf')
for _, id in ipairs(active) do
  local w = redis.call('HGET', KEYS[5], id)
  if w then
    out[#out + 1] = id
    out[#out + 1] = w
  end
end
return out
"""
)
