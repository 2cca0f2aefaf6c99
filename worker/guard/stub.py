"""An in-memory per-user guard with an injectable clock, for unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from worker.guard.base import GuardDecision, check_limits, check_names

__all__ = ["StubUserGuard"]


class StubUserGuard:
    """An in-memory :class:`~worker.guard.redis.UserGuard` with an injectable clock.

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
        check_limits(cap_per_hour, window_seconds)
        self._cap = cap_per_hour
        self._window = float(window_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], list[float]] = {}

    def reserve(self, operation: str, user_key: str) -> GuardDecision:
        """Record the call and allow it when the user has room, else refuse.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        check_names(operation, user_key)
        with self._lock:
            now = self._clock()
            calls = self._trimmed((operation, user_key), now)
            if len(calls) >= self._cap:
                retry = calls[len(calls) - self._cap] + self._window - now
                return GuardDecision(False, max(0.0, retry), len(calls))
            calls.append(now)
            return GuardDecision(True, 0.0, len(calls))

    def reserve_many(self, operation: str, user_keys: Sequence[str]) -> list[GuardDecision]:
        """:meth:`reserve` for each of ``user_keys`` in order; one decision per key.

        Raises:
            ValueError: when ``operation`` or one of ``user_keys`` is empty (nothing is
                reserved then).
        """
        for user_key in user_keys:
            check_names(operation, user_key)
        return [self.reserve(operation, user_key) for user_key in user_keys]

    def release(self, operation: str, user_key: str) -> None:
        """Remove the latest recorded call.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        check_names(operation, user_key)
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
        check_names(operation, user_key)
        with self._lock:
            now = self._clock()
            calls = self._trimmed((operation, user_key), now)
            calls.extend([now] * max(0, self._cap - len(calls)))
            return max(0.0, calls[len(calls) - self._cap] + self._window - now)

    def count(self, operation: str, user_key: str) -> int:
        """The user's calls for ``operation`` in the current window.

        Raises:
            ValueError: when ``operation`` or ``user_key`` is empty.
        """
        check_names(operation, user_key)
        with self._lock:
            return len(self._trimmed((operation, user_key), self._clock()))

    def _trimmed(self, key: tuple[str, str], now: float) -> list[float]:
        calls = [t for t in self._calls.get(key, []) if t > now - self._window]
        self._calls[key] = calls
        return calls
