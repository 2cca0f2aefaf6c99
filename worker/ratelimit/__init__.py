"""The global rate limiter: one permit budget per Cognito quota category and AWS Region for
all workers (:mod:`worker.ratelimit.regional`).

Cognito allows 50 calls/s per account and Region for the UserResourceRead category
(ResendConfirmationCode and GetUserAttributeVerificationCode together, shared with the
application's own traffic) and 30/s for UserList (ListUsers). Every attempt to call
Cognito, retries included, first takes a permit::

    limiter = make_regional_limiters(settings, redis).for_region(region)
    limiter.acquire(Category.USER_RESOURCE_READ, priority=Priority.BULK,
                    timeout_seconds=settings.permit_wait_max_seconds)
    ...  # call Cognito; on TooManyRequestsException:
    limiter.report_throttle(Category.USER_RESOURCE_READ)

The family (after dramatiq's ``rate_limits``): :class:`RateLimiter` is the seam,
:class:`RedisRateLimiter` the production backend (GCRA in one atomic Lua script on Redis's
clock; the algorithm is described in :mod:`worker.ratelimit.redis`), and
:class:`StubRateLimiter` an in-process double with an injectable clock. See also
``docs/ratelimit.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.ratelimit.base import (
    BUDGET_RANGE,
    BURST_TOLERANCE,
    COGNITO_QUOTA_PER_SECOND,
    MAX_BUDGET_PER_SECOND,
    MIN_BUDGET_PER_SECOND,
    Category,
    Grant,
    GrantObserver,
    LimiterConfig,
    LimitState,
    Priority,
    RateLimiter,
)
from worker.ratelimit.freshness import (
    MAX_STALE_PERMITS,
    MIN_FRESH_SECONDS,
    fresh_seconds,
    refuse_stale_send,
    send_with_fresh_permit,
)
from worker.ratelimit.redis import RedisRateLimiter
from worker.ratelimit.regional import REGIONS_KEY, RegionalLimiters
from worker.ratelimit.shares import (
    CAMPAIGN_ACTIVE_SECONDS,
    MAX_CAMPAIGN_WEIGHT,
    MIN_CAMPAIGN_WEIGHT,
    WEIGHT_RANGE,
    CampaignShare,
    check_weight,
)
from worker.ratelimit.stub import ManualClock, StubRateLimiter

if TYPE_CHECKING:
    from redis import Redis

    from worker.settings import Settings

__all__ = [
    # vocabulary
    "BUDGET_RANGE",
    "BURST_TOLERANCE",
    "COGNITO_QUOTA_PER_SECOND",
    "Category",
    "Grant",
    "GrantObserver",
    "LimitState",
    "LimiterConfig",
    "MAX_BUDGET_PER_SECOND",
    "MIN_BUDGET_PER_SECOND",
    "ManualClock",
    "Priority",
    # the seam and its backends
    "RateLimiter",
    "RedisRateLimiter",
    "StubRateLimiter",
    # a budget per AWS Region
    "REGIONS_KEY",
    "RegionalLimiters",
    "make_regional_limiters",
    # a permit is good for a moment only
    "MAX_STALE_PERMITS",
    "MIN_FRESH_SECONDS",
    "fresh_seconds",
    "refuse_stale_send",
    "send_with_fresh_permit",
    # campaigns share the bulk rate by weight
    "CAMPAIGN_ACTIVE_SECONDS",
    "CampaignShare",
    "MAX_CAMPAIGN_WEIGHT",
    "MIN_CAMPAIGN_WEIGHT",
    "WEIGHT_RANGE",
    "check_weight",
]


def make_regional_limiters(
    settings: Settings, redis: Redis, *, on_grant: GrantObserver | None = None
) -> RegionalLimiters:
    """The production limiters, one budget per Region, for these settings (one per process)."""
    return RegionalLimiters(redis, LimiterConfig.from_settings(settings), on_grant=on_grant)
