"""Cognito's two limits: the account quota per category and the per-user hourly cap.

:class:`TokenBucket` refills ``rate`` tokens per second up to ``capacity`` (the burst);
a call that finds no token is throttled (``TooManyRequestsException``). :class:`HourlyCap`
allows ``limit`` successful calls per user and operation in any rolling hour; the next one
answers ``LimitExceededException``. Codes sent by (Admin)UpdateUserAttributes count as
GetUserAttributeVerificationCode's (:data:`CAP_OPERATION`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["CAP_OPERATION", "CATEGORY_BY_OPERATION", "HourlyCap", "TokenBucket", "cap_key"]

CATEGORY_BY_OPERATION: dict[str, str] = {
    "ResendConfirmationCode": "UserResourceRead",
    "GetUserAttributeVerificationCode": "UserResourceRead",
    "ListUsers": "UserList",
}

CAP_OPERATION: dict[str, str] = {
    "UpdateUserAttributes": "GetUserAttributeVerificationCode",
    "AdminUpdateUserAttributes": "GetUserAttributeVerificationCode",
}
"""Operations whose codes count against another operation's hourly cap: a code that an
update of ``email``/``phone_number`` sends is an attribute verification code, the one
GetUserAttributeVerificationCode sends, and spends the same count."""


def cap_key(pool_id: str, username: str, operation: str) -> tuple[str, str, str]:
    """The :class:`HourlyCap` key a code sent to ``username`` by ``operation`` counts under."""
    return (pool_id, username, CAP_OPERATION.get(operation, operation))


class TokenBucket:
    """A token bucket; ``rate`` None never throttles."""

    def __init__(
        self,
        rate: float | None,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.rate = rate
        # at least one token, or a rate below 1/s would never let a call through
        self.capacity = max(1.0, capacity if capacity is not None else (rate or 0.0))
        self._tokens = self.capacity
        self._stamp = clock()

    def try_acquire(self) -> bool:
        """Take one token if there is one; True when the call may go on."""
        if self.rate is None:
            return True
        now = self._clock()
        tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


class HourlyCap:
    """At most ``limit`` accepted calls per key in any rolling ``window_seconds``."""

    def __init__(
        self,
        limit: int,
        *,
        window_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._window = window_seconds
        self._clock = clock
        self._calls: dict[tuple[str, ...], deque[float]] = {}

    def allows(self, key: tuple[str, ...]) -> bool:
        """True when one more call for ``key`` stays within the cap (records nothing)."""
        if self.limit <= 0:
            return True
        calls = self._calls.get(key)
        if calls is None:
            return True
        horizon = self._clock() - self._window
        while calls and calls[0] <= horizon:
            calls.popleft()
        return len(calls) < self.limit

    def record(self, key: tuple[str, ...]) -> None:
        """Count one accepted call for ``key``."""
        if self.limit <= 0:
            return
        self._calls.setdefault(key, deque()).append(self._clock())

    def clear(self) -> None:
        """Forget every call."""
        self._calls.clear()
