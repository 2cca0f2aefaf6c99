"""The Lua scripts behind :class:`worker.ratelimit.redis.RedisRateLimiter`.

All times are seconds on Redis's own clock (``TIME``), carried as ``%.17g`` strings so that
a double survives the round trip through Redis exactly. Rates are calls per second.
Each script reads the run-time budget override, so a change applies on the next call.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "STATE", "THROTTLE"]

_PRELUDE = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function fmt(x)
  return string.format('%.17g', x)
end

-- the run-time override written by set_budget, else the configured default
local function budget_of(key, default)
  local v = redis.call('GET', key)
  if v then
    local n = tonumber(v)
    if n and n > 0 then return n end
  end
  return tonumber(default)
end

-- the adaptive rate: the rate set by the last counted throttle, climbing linearly from
-- the floor to the budget over `recovery` seconds; the budget when nothing was throttled
local function rate_of(adapt_key, budget, floor, recovery, now)
  local v = redis.call('HMGET', adapt_key, 'rate', 'at')
  local rate = budget
  local base, at = tonumber(v[1]), tonumber(v[2])
  if base and at then
    rate = base + (budget - floor) * math.max(0, now - at) / recovery
  end
  if rate > budget then rate = budget end
  if rate < floor then rate = floor end
  return rate
end
"""

ACQUIRE = (
    _PRELUDE
    + """
-- KEYS: budget, adapt, tat, bulk_tat, waiting
-- ARGV: default budget, floor fraction, recovery seconds, bulk share, priority, token,
--       waiting-marker slack seconds
-- returns {1, '0', now} when granted, {0, wait seconds, now} when refused
local now = clock()
local budget = budget_of(KEYS[1], ARGV[1])
local floor = budget * tonumber(ARGV[2])
local rate = rate_of(KEYS[2], budget, floor, tonumber(ARGV[3]), now)
local period = 1 / rate

-- GCRA, burst tolerance of one period: conforming when tat - period <= now
local tat = tonumber(redis.call('GET', KEYS[3])) or now
if tat < now then tat = now end
local wait = tat - period - now

local bulk = ARGV[5] == 'bulk'
local bulk_period, bulk_tat
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', fmt(now))
if bulk then
  -- an interactive caller is waiting for the next slot: leave it free
  if wait < period and redis.call('ZCARD', KEYS[5]) > 0 then wait = period end
  bulk_period = period / tonumber(ARGV[4])
  bulk_tat = tonumber(redis.call('GET', KEYS[4])) or now
  if bulk_tat < now then bulk_tat = now end
  local bulk_wait = bulk_tat - bulk_period - now
  if bulk_wait > wait then wait = bulk_wait end
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

tat = tat + period
redis.call('SET', KEYS[3], fmt(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
if bulk then
  bulk_tat = bulk_tat + bulk_period
  redis.call('SET', KEYS[4], fmt(bulk_tat), 'PX', math.ceil((bulk_tat - now) * 1000) + 1000)
else
  redis.call('ZREM', KEYS[5], ARGV[6])
end
return {1, '0', fmt(now)}
"""
)

THROTTLE = (
    _PRELUDE
    + """
-- KEYS: budget, adapt
-- ARGV: default budget, floor fraction, recovery seconds, decrease factor, cooldown seconds
-- returns {1, new rate} when the report was counted, {0, rate} when inside the cooldown
local now = clock()
local budget = budget_of(KEYS[1], ARGV[1])
local floor = budget * tonumber(ARGV[2])
local rate = rate_of(KEYS[2], budget, floor, tonumber(ARGV[3]), now)
local at = tonumber(redis.call('HGET', KEYS[2], 'at'))
local cooldown = math.max(tonumber(ARGV[5]), 1 / rate)
if at and now - at < cooldown then return {0, fmt(rate)} end
local new_rate = math.max(floor, rate * tonumber(ARGV[4]))
redis.call('HSET', KEYS[2], 'rate', fmt(new_rate), 'at', fmt(now))
redis.call('HINCRBY', KEYS[2], 'throttles', 1)
return {1, fmt(new_rate)}
"""
)

STATE = (
    _PRELUDE
    + """
-- KEYS: budget, adapt
-- ARGV: default budget, floor fraction, recovery seconds
-- returns {budget, rate, floor, last throttle at or '', throttles}
local now = clock()
local budget = budget_of(KEYS[1], ARGV[1])
local floor = budget * tonumber(ARGV[2])
local rate = rate_of(KEYS[2], budget, floor, tonumber(ARGV[3]), now)
local v = redis.call('HMGET', KEYS[2], 'at', 'throttles')
return {fmt(budget), fmt(rate), fmt(floor), v[1] or '', tonumber(v[2]) or 0}
"""
)
