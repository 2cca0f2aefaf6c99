"""The per-user guard's seam: never make the call Cognito would refuse with LimitExceeded.

Cognito allows 5 calls per user per operation per rolling hour (not adjustable) and
answers the 6th with LimitExceededException. Such a call would still spend a permit of the
shared budget and can never succeed by retrying within seconds, so the worker asks the
guard first and skips the call when the user's hour is spent.

The family (like :mod:`worker.ratelimit`): :class:`PerUserGuard` is the seam,
:class:`~worker.guard.redis.UserGuard` the production backend (one atomic Lua script on
Redis's clock) and :class:`~worker.guard.stub.StubUserGuard` an in-memory double with an
injectable clock. Callers build the user key with :mod:`worker.identity.users` so that it
names one Cognito user (pool + case-folded username; the token's issuer and user).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["GUARD_KEY_PREFIX", "GuardDecision", "PerUserGuard", "check_limits", "check_names"]

GUARD_KEY_PREFIX = "courier:guard"


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
    """The seam the worker depends on; ``UserGuard`` and ``StubUserGuard`` fit."""

    def reserve(self, operation: str, user_key: str) -> GuardDecision:
        """Record a call unless the user's window is full; say which."""
        ...

    def reserve_many(self, operation: str, user_keys: Sequence[str]) -> list[GuardDecision]:
        """:meth:`reserve` for each of ``user_keys`` in turn, in one step; one decision each."""
        ...

    def release(self, operation: str, user_key: str) -> None:
        """Undo the latest reservation (the call never reached Cognito)."""
        ...

    def saturate(self, operation: str, user_key: str) -> float:
        """Learn that Cognito counts the user's hour as spent; seconds until it has room."""
        ...

    def count(self, operation: str, user_key: str) -> int:
        """The user's calls for ``operation`` in the current window."""
        ...


def check_limits(cap_per_hour: int, window_seconds: float) -> None:
    """Check a guard's cap and window.

    Raises:
        ValueError: when the cap is not an integer >= 1 or the window not a finite number
            above 0.
    """
    if isinstance(cap_per_hour, bool) or not isinstance(cap_per_hour, int) or cap_per_hour < 1:
        raise ValueError(f"cap_per_hour must be an integer >= 1, got {cap_per_hour!r}")
    if not (math.isfinite(window_seconds) and window_seconds > 0):
        raise ValueError(f"window_seconds must be a finite number above 0, got {window_seconds!r}")


def check_names(operation: str, user_key: str) -> None:
    """Check one call's names.

    Raises:
        ValueError: when ``operation`` or ``user_key`` is empty.
    """
    if not operation:
        raise ValueError("operation must not be empty")
    if not user_key:
        raise ValueError("user_key must not be empty")
