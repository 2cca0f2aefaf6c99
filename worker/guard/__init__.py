"""The per-user hourly guard family: the seam, the Redis backend and an in-memory stub.

Cognito allows 5 calls per user per operation per rolling hour; the guard keeps the
worker from making the call Cognito would refuse (:mod:`worker.guard.base` is the seam,
:mod:`worker.guard.redis` the production backend, :mod:`worker.guard.stub` the double).
"""

from worker.guard.base import GUARD_KEY_PREFIX, GuardDecision, PerUserGuard
from worker.guard.redis import UserGuard
from worker.guard.stub import StubUserGuard

__all__ = ["GUARD_KEY_PREFIX", "GuardDecision", "PerUserGuard", "StubUserGuard", "UserGuard"]
