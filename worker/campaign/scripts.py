"""The Lua scripts that move campaign rows and leases; each runs atomically in Redis.

Times are Redis's own clock (``TIME``), in seconds since the epoch. Row state codes are
those of :mod:`worker.campaign.model`. A *member* is a unit of dispatch: ``c:{chunk}`` (a
chunk of rows) or ``b:{id}`` (a retry batch of deferred rows). A member is *leased* to one
task id at a time (``owners``) until a deadline (``leases``), renewed by the holder's
heartbeat (:mod:`worker.liveness.heartbeat`) and at every claim and record.
"""

from __future__ import annotations

from typing import Final

from worker.lua import NOW

__all__ = [
    "CLAIM",
    "DUE",
    "FINISH",
    "NEXT",
    "PAUSE",
    "REAP",
    "RECONCILE",
    "RECORD",
    "RELEASE",
    "RENEW",
    "REOPEN",
    "SWEEP",
    "TAKE",
    "UPDATE",
]

_PRELUDE = (
    NOW
    + """
local NAMES = {'queued', 'running', 'succeeded', 'failed', 'skipped', 'cancelled',
               'deferred', 'running'}
local function byte_at(key, row)
  local s = redis.call('GETRANGE', key, row, row)
  if s == '' then return nil end
  return string.byte(s)
end
local function move(counts, from, to, n)
  redis.call('HINCRBY', counts, NAMES[from + 1], -n)
  redis.call('HINCRBY', counts, NAMES[to + 1], n)
end
"""
)

# KEYS meta rows counts leases owners [redeliveries]. ARGV member token lease_ttl mine
# claimable row... Claims each row in turn; returns one code per row: 1 claimed, 2 claimed
# again after its holder stopped (counted in meta ``redelivered`` and per row), 0 nothing
# to do; or stops at the first -1 no campaign, -2 the lease went to another task, -3
# paused, -4 cancelled (that code is the last one returned). Named in model.Claim.
CLAIM: Final = (
    _PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1} end
if redis.call('HGET', KEYS[5], ARGV[1]) ~= ARGV[2] then return {-2} end
local mine, claimable = tonumber(ARGV[4]), tonumber(ARGV[5])
local results = {}
for i = 6, #ARGV do
  local row = tonumber(ARGV[i])
  local current = byte_at(KEYS[2], row)
  local result = 0
  if current == mine then
    if state == 'cancelled' then
      redis.call('SETRANGE', KEYS[2], row, string.char(5))
      move(KEYS[3], mine, 5, 1)
    elseif state ~= 'active' then
      result = -3
    else
      redis.call('HINCRBY', KEYS[1], 'redelivered', 1)
      if KEYS[6] then
        redis.call('HINCRBY', KEYS[6], row, 1)
        redis.call('EXPIREAT', KEYS[6], tonumber(redis.call('HGET', KEYS[1], 'expire_at')))
      end
      result = 2
    end
  elseif current == claimable then
    if state == 'cancelled' then
      result = -4
    elseif state ~= 'active' then
      result = -3
    else
      redis.call('SETRANGE', KEYS[2], row, string.char(mine))
      move(KEYS[3], claimable, mine, 1)
      result = 1
    end
  end
  results[#results + 1] = result
  if result < 0 then break end
end
redis.call('ZADD', KEYS[4], 'XX', now() + tonumber(ARGV[3]), ARGV[1])
return results
"""
)

# KEYS meta rows counts leases rate deferred run out... (one outcome key per row). ARGV
# member lease_ttl expire_at mine, then per row: row code record attempts due. A row put
# back (code 0, or 6 with due 0: claimable again by its member) has an empty record, which
# is not appended; a deferred row (6, due > 0) joins the deferred zset; a success ends the
# account-answer run (``run``, see worker.campaign.account). Sets each row's
# final (or deferred) state, the counts, its outcome record and the rate ring in one step;
# meta keeps the campaign's whole ``calls`` and the times of its first and last recorded call.
# Returns how many rows were recorded (a row not running for this holder is left alone;
# nothing at all when meta is gone: Redis lost the campaign, see worker.campaign.lost).
RECORD: Final = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end  -- gone: recreate nothing
local mine, expire_at = tonumber(ARGV[4]), tonumber(ARGV[3])
local cancelled = redis.call('HGET', KEYS[1], 'state') == 'cancelled'
local t = now()
local sec = math.floor(t)
local slot = sec % 32
if tonumber(redis.call('HGET', KEYS[5], 't' .. slot) or '-1') ~= sec then
  redis.call('HSET', KEYS[5], 't' .. slot, sec, 'n' .. slot, 0)
end
local recorded, calls, succeeded = 0, 0, false
for i = 5, #ARGV, 5 do
  local row, code = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local out = KEYS[7 + (i - 5) / 5 + 1]
  local due = tonumber(ARGV[i + 4])
  calls = calls + tonumber(ARGV[i + 3])
  if byte_at(KEYS[2], row) == mine then
    if (code == 6 or code == 0) and cancelled then code = 5 end
    if code == 2 then succeeded = true end
    redis.call('SETRANGE', KEYS[2], row, string.char(code))
    move(KEYS[3], mine, code, 1)
    if #ARGV[i + 2] > 0 and redis.call('APPEND', out, ARGV[i + 2]) == #ARGV[i + 2] then
      redis.call('EXPIREAT', out, expire_at)
    end
    if code == 6 and due > 0 then
      redis.call('ZADD', KEYS[6], due, row)
      redis.call('EXPIREAT', KEYS[6], expire_at)
    end
    recorded = recorded + 1
  end
end
if succeeded then redis.call('DEL', KEYS[7]) end
redis.call('HINCRBY', KEYS[5], 'n' .. slot, calls)
if calls > 0 then
  redis.call('HINCRBY', KEYS[1], 'calls', calls)
  redis.call('HSETNX', KEYS[1], 'first_call_at', t)
  redis.call('HSET', KEYS[1], 'last_call_at', t)
end
redis.call('HSET', KEYS[1], 'updated_at', t)
redis.call('ZADD', KEYS[4], 'XX', t + tonumber(ARGV[2]), ARGV[1])
return recorded
"""
)

# KEYS leases owners meta. ARGV member token lease_ttl.
# 1 taken, 0 held by another live task, 2 released already (stale message), -1 no campaign
# (model.Take).
TAKE: Final = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local owner = redis.call('HGET', KEYS[2], ARGV[1])
if not owner then return 2 end
local t = now()
if owner ~= ARGV[2] then
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0') > t then return 0 end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS leases owners. ARGV member token lease_ttl. The heartbeat: push the deadline of a
# lease ``token`` still holds to now + lease_ttl. 1 renewed, 0 not ours (any more).
RENEW: Final = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now() + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS leases owners requeue. ARGV member token requeue(0|1) expire_at. 1 released, 0 not ours.
RELEASE: Final = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  redis.call('RPUSH', KEYS[3], ARGV[1])
  redis.call('EXPIREAT', KEYS[3], tonumber(ARGV[4]))
end
return 1
"""

_LEASE = """
local function lease(leases, owners, member, token, ttl, expire_at)
  redis.call('ZADD', leases, now() + ttl, member)
  redis.call('HSET', owners, member, token)
  redis.call('EXPIREAT', leases, expire_at)
  redis.call('EXPIREAT', owners, expire_at)
end
"""

# KEYS meta leases owners requeue. ARGV window token lease_ttl expire_at.
# The next member to dispatch (requeued first, then the next sealed chunk), leased to
# ``token``; false when the campaign is not active, the window is full or nothing is left.
NEXT: Final = (
    _PRELUDE
    + _LEASE
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return false end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return false end
local member = redis.call('LPOP', KEYS[4])
while member and redis.call('ZSCORE', KEYS[2], member) do
  member = redis.call('LPOP', KEYS[4])  -- already leased (queued twice): drop the repeat
end
if not member then
  local m = redis.call('HMGET', KEYS[1], 'cursor', 'total', 'chunk_size', 'ingest')
  local cursor, total, size = tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(m[3])
  local chunks = math.floor(total / size)
  if m[4] == 'done' then chunks = math.ceil(total / size) end
  if cursor >= chunks then return false end
  member = 'c:' .. cursor
  redis.call('HSET', KEYS[1], 'cursor', cursor + 1)
end
lease(KEYS[2], KEYS[3], member, ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return member
"""
)

# KEYS meta deferred leases owners batch. ARGV window token lease_ttl expire_at member
# max_rows. Moves deferred rows whose window has come into a retry batch, leased to token.
DUE: Final = (
    _PRELUDE
    + _LEASE
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return false end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[1]) then return false end
local rows = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now(), 'LIMIT', 0, tonumber(ARGV[6]))
if #rows == 0 then return false end
redis.call('ZREM', KEYS[2], unpack(rows))
redis.call('SET', KEYS[5], table.concat(rows, ','))
redis.call('EXPIREAT', KEYS[5], tonumber(ARGV[4]))
lease(KEYS[3], KEYS[4], ARGV[5], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
return ARGV[5]
"""
)

# KEYS leases owners. ARGV member token lease_ttl. Re-lease an expired member to token.
REAP: Final = (
    _PRELUDE
    + """
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline or tonumber(deadline) > now() then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], now() + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS meta counts leases requeue deferred. 1 finished (stamps finished_at), 0 still
# open, 2 open rows that nothing will reach (reconcile them), -1 no campaign (model.PumpResult).
FINISH: Final = (
    _PRELUDE
    + """
local m = redis.call('HMGET', KEYS[1], 'state', 'ingest', 'cursor', 'total', 'chunk_size',
                     'finished_at')
if not m[1] then return -1 end
if m[6] then return 1 end
if m[2] ~= 'done' then return 0 end
if redis.call('ZCARD', KEYS[3]) > 0 or redis.call('LLEN', KEYS[4]) > 0 then return 0 end
local c = redis.call('HMGET', KEYS[2], 'queued', 'running', 'deferred')
local open = tonumber(c[1] or '0') + tonumber(c[2] or '0') + tonumber(c[3] or '0')
if open == 0 then
  local t = now()
  redis.call('HSET', KEYS[1], 'finished_at', t, 'updated_at', t)
  return 1
end
if m[1] == 'paused' then return 0 end
if m[1] == 'active' then
  if redis.call('ZCARD', KEYS[5]) > 0 then return 0 end
  if tonumber(m[3] or '0') < math.ceil(tonumber(m[4]) / tonumber(m[5])) then return 0 end
end
return 2
"""
)

# KEYS rows counts. ARGV start length with_running(0|1). Cancels queued and deferred rows
# (and running ones when no task holds them) in [start, start+length). Returns the number.
SWEEP: Final = (
    _PRELUDE
    + """
local start = tonumber(ARGV[1])
local s = redis.call('GETRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
local with_running = ARGV[3] == '1'
local out, changed, moved = {}, 0, {}
for i = 1, #s do
  local b = string.byte(s, i)
  if b == 0 or b == 6 or (with_running and (b == 1 or b == 7)) then
    moved[b] = (moved[b] or 0) + 1
    changed = changed + 1
    b = 5
  end
  out[i] = string.char(b)
end
if changed > 0 then
  redis.call('SETRANGE', KEYS[1], start, table.concat(out))
  for code, n in pairs(moved) do move(KEYS[2], code, 5, n) end
end
return changed
"""
)

# KEYS rows counts deferred. ARGV start length expire_at. Puts stranded retry-batch rows
# (7) and deferred rows missing from the zset back in the zset, due now. Returns the number
# of queued or running (1) rows left in the range, which the caller requeues.
RECONCILE: Final = (
    _PRELUDE
    + """
local start = tonumber(ARGV[1])
local s = redis.call('GETRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
local t = now()
local open = 0
for i = 1, #s do
  local b = string.byte(s, i)
  local row = start + i - 1
  if b == 0 or b == 1 then
    open = open + 1
  elseif b == 7 then
    redis.call('SETRANGE', KEYS[1], row, string.char(6))
    move(KEYS[2], 7, 6, 1)
    redis.call('ZADD', KEYS[3], t, row)
  elseif b == 6 then
    redis.call('ZADD', KEYS[3], 'NX', t, row)
  end
end
redis.call('EXPIREAT', KEYS[3], tonumber(ARGV[3]))
return open
"""
)

# KEYS meta. ARGV pause_reason (JSON). Pauses an active, unfinished campaign and stores why.
# 1 paused, 0 not active (paused already: the first reason stays; cancelled; finished).
PAUSE: Final = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'finished_at') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'paused', 'pause_reason', ARGV[1], 'updated_at', now())
return 1
"""
)

# KEYS rows counts deferred. ARGV expire_at row... Turns failed rows (3) back into deferred
# rows due now (rows that met an account condition before it was recognised). Returns the
# rows turned back, in order.
REOPEN: Final = (
    _PRELUDE
    + """
local t, reopened = now(), {}
for i = 2, #ARGV do
  local row = tonumber(ARGV[i])
  if byte_at(KEYS[1], row) == 3 then
    redis.call('SETRANGE', KEYS[1], row, string.char(6))
    move(KEYS[2], 3, 6, 1)
    redis.call('ZADD', KEYS[3], t, row)
    reopened[#reopened + 1] = row
  end
end
if #reopened > 0 then redis.call('EXPIREAT', KEYS[3], tonumber(ARGV[1])) end
return reopened
"""
)

# KEYS meta. ARGV field value... Sets fields of an existing meta; 0 when meta is gone (a
# Redis that lost its data): a partial meta is never recreated (worker.campaign.lost).
UPDATE: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
