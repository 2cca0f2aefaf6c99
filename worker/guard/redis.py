"""The per-user guard: never make the call Cognito would refuse with LimitExceeded.

Cognito allows 5 calls per user per operation per rolling hour (not adjustable) and
answers the 6th with LimitExceededException. Such a call would still spend a permit of the
shared budget and can never succeed by retrying within seconds, so the worker asks the
guard first and skips the call when the user's hour is spent.

Algorithm: one sorted set per (operation, user) holding the times of the calls made in the
window, on Redis's own clock. One atomic Lua script trims entries older than the window,
counts the rest and, below the cap, records the new call; at the cap it answers how long
until the oldest call that keeps the count at the cap rolls off. ``reserve_many`` runs
the same step for several users in one script call (a campaign reserves its claimed rows in
one round trip). ``release`` removes the latest entry (the call never reached Cognito).
Keys expire one window after the last call.

Key: ``courier:guard:{operation}:{sha256(user key)}`` (the user key never sits in Redis in
clear; pass ``secret`` to make it an HMAC, which also hides dictionary-guessable names).

Callers build the user key with :mod:`worker.identity.users` so that it names one Cognito user
(pool + case-folded username; the token's issuer and user), and pass the key the first
scheme used as ``legacy_key``: its calls keep counting until they leave the window.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis import Redis

__all__ = [
    "GUARD_KEY_PREFIX",
    "GuardDecision",
    "PerUserGuard",
    "StubUserGuard",
    "UserGuard",
]

GUARD_KEY_PREFIX = "courier:guard"

_RESERVE = """
-- KEYS: per call, its call log then its legacy log (the old key scheme, read only but for
-- trimming); ARGV: cap, window seconds, member token prefix, then per call 1 when its
-- legacy log is to be counted, 0 when not. Returns {allowed 1/0, retry after seconds,
-- calls in window (after recording)} for each call in turn; a key given twice sees its
-- first reservation the second time.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap, window, answers = tonumber(ARGV[1]), tonumber(ARGV[2]), {}
local cutoff = string.format('%.17g', now - window)
for i = 1, #KEYS / 2 do
  local key, legacy = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  local n = redis.call('ZCARD', key)
  local times = nil
  if ARGV[3 + i] == '1' then
    redis.call('ZREMRANGEBYSCORE', legacy, '-inf', cutoff)
    local m = redis.call('ZCARD', legacy)
    if m > 0 then
      times = {}
      for _, log in ipairs({key, legacy}) do
        local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
        for j = 2, #entries, 2 do times[#times + 1] = tonumber(entries[j]) end
      end
      table.sort(times)
      n = n + m
    end
  end
  if n >= cap then
    local oldest
    if times then
      oldest = times[n - cap + 1]
    else
      oldest = tonumber(redis.call('ZRANGE', key, n - cap, n - cap, 'WITHSCORES')[2])
    end
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
-- KEYS: the user's call logs (current, legacy); ARGV: window seconds; returns the calls
-- in the window in all of them
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local low, n = '(' .. string.format('%.17g', now - tonumber(ARGV[1])), 0
for _, key in ipairs(KEYS) do n = n + redis.call('ZCOUNT', key, low, '+inf') end
return n
"""


@dataclass(frozen=True)
class GuardDecision:
    """The guard's answer for one call.

    Attributes:
        allowed: True when the call was recorded and may go to Cognito.
        retry_after_seconds: when refused, seconds until the user's window has room
            again; 0.0 when allowed.
        calls_in_window: the user's calls for this operation in the window, this one
            included when allowed.
    """

    allowed: bool
    retry_after_seconds: float
    calls_in_window: int


class PerUserGuard(Protocol):
    """The seam the worker depends on; :class:`UserGuard` and :class:`StubUserGuard` fit."""

    def reserve(
        self, operation: str, user_key: str, *, legacy_key: str | None = None
    ) -> GuardDecision:
        """Record a call unless the user's window is full; say which."""
        ...

    def reserve_many(
        self,
        operation: str,
        user_keys: Sequence[str],
        *,
        legacy_keys: Sequence[str | None] | None = None,
    ) -> list[GuardDecision]:
        """:meth:`reserve` for each of ``user_keys`` in turn, in one step; one decision each."""
        ...

    def release(self, operation: str, user_key: str) -> None:
        """Undo the latest reservation (the call never reached Cognito)."""
        ...

    def saturate(self, operation: str, user_key: str) -> float:
        """Learn that Cognito counts the user's hour as spent; seconds until it has room."""
        ...

    def count(self, operation: str, user_key: str, *, legacy_key: str | None = None) -> int:
        """The user's calls for ``operation`` in the current window."""
        ...


def _check(cap_per_hour: int, window_seconds: float) -> None:
    if isinstance(cap_per_hour, bool) or not isinstance(cap_per_hour, int) or cap_per_hour < 1:
        raise ValueError(f"cap_per_hour must be an integer >= 1, got {cap_per_hour!r}")
    if not (math.isfinite(window_seconds) and window_seconds > 0):
        raise ValueError(f"window_seconds must be a finite number above 0, got {window_seconds!r}")


def _check_names(operation: str, user_key: str) -> None:
    if not operation:
        raise ValueError("operation must not be empty")
    if not user_key:
        raise ValueError("user_key must not be empty")


def _legacy_list(
    user_keys: Sequence[str], legacy_keys: Sequence[str | None] | None
) -> list[str | None]:
    if legacy_keys is None:
        return [None] * len(user_keys)
    if len(legacy_keys) != len(user_keys):
        raise ValueError(
            f"legacy_keys has {len(legacy_keys)} entries for {len(user_keys)} user_keys"
        )
    return list(legacy_keys)


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
        _check(cap_per_hour, window_seconds)
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
        _check_names(operation, user_key)
        data = user_key.encode("utf-8")
        if self._secret is None:
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest = hmac.new(self._secret, data, hashlib.sha256).hexdigest()
        return f"{self._prefix}:{operation}:{digest}"

    def reserve(
        self, operation: str, user_key: str, *, legacy_key: str | None = None
    ) -> GuardDecision:
        """Atomically: when the user has room, record the call and allow it; else refuse.

        ``legacy_key`` is the same user's key under an older key scheme: its calls still
        in the window count too (the new call is recorded under ``user_key`` only), so an
        upgrade never resets anyone's hour.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
            redis.RedisError: when Redis cannot be reached.
        """
        return self.reserve_many(operation, [user_key], legacy_keys=[legacy_key])[0]

    def reserve_many(
        self,
        operation: str,
        user_keys: Sequence[str],
        *,
        legacy_keys: Sequence[str | None] | None = None,
    ) -> list[GuardDecision]:
        """:meth:`reserve` for each of ``user_keys`` in order, in one script call (one round
        trip for a campaign's batch of rows); returns one decision per key, in order.

        A key given twice is reserved twice, the second time seeing the first.
        ``legacy_keys``, when given, holds one legacy key (or None) per user key.

        Raises:
            ValueError: when ``operation`` or one of ``user_keys`` is empty, or
                ``legacy_keys`` is not one per user key (nothing is reserved then).
            redis.RedisError: when Redis cannot be reached.
        """
        if not user_keys:
            return []
        legacies = _legacy_list(user_keys, legacy_keys)
        keys: list[str] = []
        flags: list[str] = []
        for user_key, legacy in zip(user_keys, legacies, strict=True):
            current = self.key(operation, user_key)
            keys += [current, current if legacy is None else self.key(operation, legacy)]
            flags.append("0" if legacy is None else "1")
        flat = self._reserve(
            keys=keys, args=[self._cap, repr(self._window), uuid.uuid4().hex, *flags]
        )
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

    def count(self, operation: str, user_key: str, *, legacy_key: str | None = None) -> int:
        """The user's calls for ``operation`` in the current window (``legacy_key``'s too).

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
            redis.RedisError: when Redis cannot be reached.
        """
        keys = [self.key(operation, user_key)]
        if legacy_key is not None:
            keys.append(self.key(operation, legacy_key))
        return int(self._count(keys=keys, args=[repr(self._window)]))


class StubUserGuard:
    """An in-memory :class:`UserGuard` with an injectable clock, for unit tests.

    Args:
        cap_per_hour: calls allowed per user per operation in the window.
        window_seconds: the rolling window.
        clock: current time in seconds (default :func:`time.time`).

    Raises:
        ValueError: when the cap is not an integer >= 1 or the window not above 0.
    """

    def __init__(
        self,
        *,
        cap_per_hour: int,
        window_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check(cap_per_hour, window_seconds)
        self._cap = cap_per_hour
        self._window = float(window_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], list[float]] = {}

    def reserve(
        self, operation: str, user_key: str, *, legacy_key: str | None = None
    ) -> GuardDecision:
        """Record the call and allow it when the user has room, else refuse
        (``legacy_key``'s calls count too, as in :meth:`UserGuard.reserve`).

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        _check_names(operation, user_key)
        with self._lock:
            now = self._clock()
            calls = self._trimmed((operation, user_key), now)
            both = calls
            if legacy_key is not None:
                both = sorted(calls + self._trimmed((operation, legacy_key), now))
            if len(both) >= self._cap:
                retry = both[len(both) - self._cap] + self._window - now
                return GuardDecision(False, max(0.0, retry), len(both))
            counted = len(both) + 1
            calls.append(now)
            return GuardDecision(True, 0.0, counted)

    def reserve_many(
        self,
        operation: str,
        user_keys: Sequence[str],
        *,
        legacy_keys: Sequence[str | None] | None = None,
    ) -> list[GuardDecision]:
        """:meth:`reserve` for each of ``user_keys`` in order; one decision per key.

        Raises:
            ValueError: when ``operation`` or one of ``user_keys`` is empty, or
                ``legacy_keys`` is not one per user key (nothing is reserved then).
        """
        for user_key in user_keys:
            _check_names(operation, user_key)
        legacies = _legacy_list(user_keys, legacy_keys)
        return [
            self.reserve(operation, user_key, legacy_key=legacy)
            for user_key, legacy in zip(user_keys, legacies, strict=True)
        ]

    def release(self, operation: str, user_key: str) -> None:
        """Remove the latest recorded call.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        _check_names(operation, user_key)
        with self._lock:
            calls = self._calls.get((operation, user_key))
            if calls:
                calls.pop()

    def saturate(self, operation: str, user_key: str) -> float:
        """Record calls at now until the window holds the cap; seconds until it has room
        (as :meth:`UserGuard.saturate`).

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        _check_names(operation, user_key)
        with self._lock:
            now = self._clock()
            calls = self._trimmed((operation, user_key), now)
            calls.extend([now] * max(0, self._cap - len(calls)))
            return max(0.0, calls[len(calls) - self._cap] + self._window - now)

    def count(self, operation: str, user_key: str, *, legacy_key: str | None = None) -> int:
        """The user's calls for ``operation`` in the current window (``legacy_key``'s too).

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        _check_names(operation, user_key)
        with self._lock:
            now = self._clock()
            legacy = 0 if legacy_key is None else len(self._trimmed((operation, legacy_key), now))
            return len(self._trimmed((operation, user_key), now)) + legacy

    def _trimmed(self, key: tuple[str, str], now: float) -> list[float]:
        calls = [t for t in self._calls.get(key, []) if t > now - self._window]
        self._calls[key] = calls
        return calls
