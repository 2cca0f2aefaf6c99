"""The per-user guard on Redis, shared by all workers.

Algorithm: one sorted set per (operation, user) holding the times of the calls made in the
window, on Redis's own clock. One atomic Lua script trims entries older than the window,
counts the rest and, below the cap, records the new call; at the cap it answers how long
until the oldest call that keeps the count at the cap rolls off. ``reserve_many`` runs
the same step for several users in one script call (a campaign reserves its claimed rows in
one round trip). ``release`` removes the latest entry (the call never reached Cognito).
Keys expire one window after the last call.

Key: ``courier:guard:{operation}:{sha256(user key)}`` (the user key never sits in Redis in
clear; pass ``secret`` to make it an HMAC, which also hides dictionary-guessable names).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence

from redis import Redis

from worker.guard.base import GUARD_KEY_PREFIX, GuardDecision, check_limits, check_names

__all__ = ["UserGuard"]

_RESERVE = """
-- KEYS: one call log per call; ARGV: cap, window seconds, member token prefix. Returns
-- {allowed 1/0, retry after seconds, calls in window (after recording)} for each call in
-- turn; a key given twice sees its first reservation the second time.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap, window, answers = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
local cutoff = string.format('%.17g', now - window)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  local n = redis.call('ZCARD', key)
  if n >= cap then
    local oldest = tonumber(redis.call('ZRANGE', key, n - cap, n - cap, 'WITHSCORES')[2])
    answers[#answers + 1] = 0
    answers[#answers + 1] = string.format('%.17g', math.max(0, oldest + window - now))
    answers[#answers + 1] = n
  else
    redis.call('ZADD', key, string.format('%.17g', now), ARGV[3] .. ':' .. i)
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
    answers[#answers + 1] = 1
    answers[#answers + 1] = '0'
    answers[#answers + 1] = n + 1
  end
end
return answers
"""

_SATURATE = """
-- KEYS: the user's call log; ARGV: cap, window seconds, member token prefix. Records calls
-- at now until the window holds cap of them (Cognito said the user's hour is spent by
-- calls this guard did not see); returns the seconds until the window has room again.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - window))
local n = redis.call('ZCARD', KEYS[1])
for i = n + 1, cap do
  redis.call('ZADD', KEYS[1], string.format('%.17g', now), ARGV[3] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
n = redis.call('ZCARD', KEYS[1])
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], n - cap, n - cap, 'WITHSCORES')[2])
return string.format('%.17g', math.max(0, oldest + window - now))
"""

_COUNT = """
-- KEYS: the user's call log; ARGV: window seconds; returns the calls in the window
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.17g', now - tonumber(ARGV[1])), '+inf')
"""


class UserGuard:
    """Counts calls per (operation, user) over a rolling window in Redis, for all workers.

    Args:
        redis: the client (``decode_responses`` either way).
        cap_per_hour: calls allowed per user per operation in the window
            (``settings.user_hourly_cap``).
        window_seconds: the rolling window (an hour; tests shorten it).
        secret: when given, user keys are hashed with HMAC-SHA256 under it instead of a
            bare SHA-256.
        key_prefix: prefix of every key.

    Raises:
        ValueError: when the cap is not an integer >= 1 or the window not above 0.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        cap_per_hour: int,
        window_seconds: float = 3600.0,
        secret: bytes | None = None,
        key_prefix: str = GUARD_KEY_PREFIX,
    ) -> None:
        check_limits(cap_per_hour, window_seconds)
        self._redis = redis
        self._cap = cap_per_hour
        self._window = float(window_seconds)
        self._secret = secret
        self._prefix = key_prefix
        self._reserve = redis.register_script(_RESERVE)
        self._count = redis.register_script(_COUNT)
        self._saturate = redis.register_script(_SATURATE)

    def key(self, operation: str, user_key: str) -> str:
        """The Redis key of a user's call log for ``operation`` (the user key hashed)."""
        check_names(operation, user_key)
        data = user_key.encode("utf-8")
        if self._secret is None:
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = hmac.new(self._secret, data, hashlib.sha256).hexdigest()
        return f"{self._prefix}:{operation}:{digest}"

    def reserve(self, operation: str, user_key: str) -> GuardDecision:
        """Atomically: when the user has room, record the call and allow it; else refuse.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
            redis.RedisError: when Redis cannot be reached.
        """
        return self.reserve_many(operation, [user_key])[0]

    def reserve_many(self, operation: str, user_keys: Sequence[str]) -> list[GuardDecision]:
        """:meth:`reserve` for each of ``user_keys`` in order, in one script call (one round
        trip for a campaign's batch of rows); returns one decision per key, in order.

        A key given twice is reserved twice, the second time seeing the first.

        Raises:
            ValueError: when ``operation`` or one of ``user_keys`` is empty (nothing is
                reserved then).
            redis.RedisError: when Redis cannot be reached.
        """
        if not user_keys:
            return []
        keys = [self.key(operation, user_key) for user_key in user_keys]
        flat = self._reserve(keys=keys, args=[self._cap, repr(self._window), uuid.uuid4().hex])
        return [
            GuardDecision(bool(int(flat[i])), float(flat[i + 1]), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]

    def release(self, operation: str, user_key: str) -> None:
        """Remove the latest recorded call (it never reached Cognito).

        With concurrent calls for the same user this removes the most recent one, which
        may be another caller's: the count is right, the roll-off time off by at most the
        gap between the two.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
            redis.RedisError: when Redis cannot be reached.
        """
        self._redis.zpopmax(self.key(operation, user_key))

    def saturate(self, operation: str, user_key: str) -> float:
        """Learn the calls this guard did not see: Cognito answered the user's hourly cap
        ("Attempt limit exceeded", e.g. after codes the application asked for itself).

        Records calls at now until the window holds the cap, so the guard refuses the user
        until then (no call is wasted on a second refusal); returns the seconds until the
        window has room again (the whole window when none of the calls was seen here: when
        the unseen calls were made is not known, and the latest they can be is now).

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
            redis.RedisError: when Redis cannot be reached.
        """
        key = self.key(operation, user_key)
        args: list[str | int] = [self._cap, repr(self._window), uuid.uuid4().hex]
        return float(self._saturate(keys=[key], args=args))

    def count(self, operation: str, user_key: str) -> int:
        """The user's calls for ``operation`` in the current window.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
            redis.RedisError: when Redis cannot be reached.
        """
        key = self.key(operation, user_key)
        return int(self._count(keys=[key], args=[repr(self._window)]))
