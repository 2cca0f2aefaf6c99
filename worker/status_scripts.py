"""The Lua behind :mod:`worker.status`: every write to a job's document is one script.

Each transition checks the current state first, so a terminal state is final: a late or
duplicate worker (at-least-once delivery) cannot move a job out of it. Times are Redis's
own (:data:`worker.lua.NOW`). Each script says its KEYS, ARGV and answer above it.
"""

from __future__ import annotations

from worker.lua import NOW

__all__ = ["EXPIRED", "REAP", "RENEW", "START", "TRANSITION"]

_TERMINAL = (
    NOW
    + """
local function terminal(state)
  return state == 'succeeded' or state == 'failed' or state == 'skipped'
    or state == 'cancelled'
end
"""
)

# KEYS job hash, leases. ARGV: state, updated_at, ttl_seconds, job id, then field/value
# pairs. Returns {1, created_at} when applied, {0, created_at} when already terminal, {-1,
# ''} when no such job (created_at: for the duration). A terminal one ends the lease.
TRANSITION = (
    _TERMINAL
    + """
local found = redis.call('HMGET', KEYS[1], 'state', 'created_at')
local current, created = found[1], found[2] or ''
if not current then return {-1, ''} end
if terminal(current) then return {0, created} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[2])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if terminal(ARGV[1]) then
  redis.call('HDEL', KEYS[1], 'holder')
  redis.call('ZREM', KEYS[2], ARGV[4])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, created}
"""
)

# KEYS job hash, leases, redelivered counter. ARGV: updated_at, ttl_seconds, job id,
# holder token, lease_ttl.
# Moves a non-terminal job to ``running`` held by the token, and returns {the state it had
# ('' when there is no such job), attempts so far, 1 when another holder still beats for
# it (the job is left alone) else 0}; a terminal job is left unchanged. A job found running
# or retrying had a holder that stopped: counted in ``redeliveries``.
START = (
    _TERMINAL
    + """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return {'', '0', 0} end
local attempts = redis.call('HGET', KEYS[1], 'attempts') or '0'
if terminal(current) then return {current, attempts, 0} end
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[4] then
  local deadline = redis.call('ZSCORE', KEYS[2], ARGV[3])
  if deadline and tonumber(deadline) > now() then return {current, attempts, 1} end
end
if current == 'running' or current == 'retrying' then
  redis.call('HINCRBY', KEYS[1], 'redeliveries', 1)
  redis.call('INCR', KEYS[3])
end
redis.call('HSET', KEYS[1], 'state', 'running', 'updated_at', ARGV[1], 'holder', ARGV[4])
redis.call('ZADD', KEYS[2], now() + tonumber(ARGV[5]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return {current, attempts, 0}
"""
)

# KEYS job hash, leases. ARGV job id, token, lease_ttl. The heartbeat: 1 renewed, 0 the
# token no longer holds the job, 2 the job has ended (its own finish released the lease
# while this renewal was on its way: nothing was taken).
RENEW = (
    _TERMINAL
    + """
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[2] then
  local state = redis.call('HGET', KEYS[1], 'state')
  if state == 'succeeded' or state == 'failed' or state == 'skipped' or state == 'cancelled' then
    return 2
  end
  return 0
end
redis.call('ZADD', KEYS[2], 'XX', now() + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

# KEYS leases. ARGV most. Job ids whose lease deadline has passed (Redis time).
EXPIRED = (
    _TERMINAL
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now(), 'LIMIT', 0, tonumber(ARGV[1]))
"""
)

# KEYS job hash, leases, redelivered counter. ARGV job id, updated_at. Takes back a job
# whose holder stopped
# beating: ``queued`` again, ``redeliveries`` + 1, holder and lease gone. Returns
# {operation, payload} to send it again, or false (lease alive, job gone or terminal).
REAP = (
    _TERMINAL
    + """
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline or tonumber(deadline) > now() then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
local m = redis.call('HMGET', KEYS[1], 'state', 'operation', 'payload')
if not m[1] or terminal(m[1]) or not m[3] then return false end
redis.call('HSET', KEYS[1], 'state', 'queued', 'updated_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'holder')
redis.call('HINCRBY', KEYS[1], 'redeliveries', 1)
redis.call('INCR', KEYS[3])
return {m[2], m[3]}
"""
)
