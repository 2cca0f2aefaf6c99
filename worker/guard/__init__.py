"""The per-user hourly guard family: the seam, the Redis backend and an in-memory stub.

Cognito allows 5 calls per user per operation per rolling hour; the guard keeps the
worker from making the call Cognito would refuse (see :mod:`worker.guard.redis`).
"""

from worker.guard.redis import (
    GUARD_KEY_PREFIX,
    GuardDecision,
    PerUserGuard,
    StubUserGuard,
    UserGuard,
)

__all__ = ["GUARD_KEY_PREFIX", "GuardDecision", "PerUserGuard", "StubUserGuard", "UserGuard"]
