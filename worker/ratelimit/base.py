"""The limiter vocabulary: categories, priorities, the configuration, the state and the seam.

Every module that takes permits depends on :class:`RateLimiter` (a Protocol), never on a
backend. Two backends implement it with the same semantics:

* :class:`worker.ratelimit.redis.RedisRateLimiter` - production: one budget in Redis shared
  by every thread of every worker on every host;
* :class:`worker.ratelimit.stub.StubRateLimiter` - in process, with an injectable clock, for
  unit tests of code that uses a limiter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from worker.ratelimit.shares import CAMPAIGN_ACTIVE_SECONDS, CampaignShare

if TYPE_CHECKING:
    from worker.settings import Settings

__all__ = [
    "BUDGET_RANGE",
    "BURST_TOLERANCE",
    "CEILING_MARGIN",
    "CEILING_MEMORY_FACTOR",
    "COGNITO_QUOTA_PER_SECOND",
    "Category",
    "Grant",
    "GrantObserver",
    "LimitState",
    "LimiterConfig",
    "MAX_BUDGET_PER_SECOND",
    "MIN_BUDGET_PER_SECOND",
    "MIN_RATE_PER_SECOND",
    "Priority",
    "RateLimiter",
    "check_budget",
    "check_campaign",
    "check_timeout",
]


class Category(StrEnum):
    """A Cognito request-rate quota category: one budget per category."""

    USER_RESOURCE_READ = "UserResourceRead"
    """ResendConfirmationCode and GetUserAttributeVerificationCode together."""
    USER_LIST = "UserList"
    """ListUsers (campaigns that select users with a filter)."""


class Priority(StrEnum):
    """Who is asking: interactive requests go before bulk campaign work."""

    INTERACTIVE = "interactive"
    BULK = "bulk"


COGNITO_QUOTA_PER_SECOND: Mapping[Category, float] = MappingProxyType(
    {Category.USER_RESOURCE_READ: 50.0, Category.USER_LIST: 30.0}
)
"""Cognito's default quota per account and Region (adjustable through AWS Service Quotas)."""

BURST_TOLERANCE = 0.25
"""How early, as a fraction of one period ``1 / rate``, a call may pass its theoretical time.

GCRA grants at most ``1 + floor((W + tolerance) / period)`` calls in any window of ``W``
seconds: with a quarter period, ``budget + 1`` in every 1-second window, leaving three
quarters of a period for the spread between a permit and the call reaching Cognito
(thread scheduling, the GIL) before a window could see ``budget + 2``. A caller that wakes
up later than the tolerance loses the difference, so it must not be much smaller either.
"""

THROTTLE_COOLDOWN_SECONDS = 1.0
"""Throttle reports closer than this to the last counted one belong to the same burst."""

CEILING_MARGIN = 0.05
"""After a throttle the rate settles this fraction below the ceiling it found."""

CEILING_MEMORY_FACTOR = 4.0
"""A throttle within this many ``recovery_seconds`` of the last one continues an incident."""


MIN_RATE_PER_SECOND = 1.0
"""The default floor of the adaptive rate, calls/s (or the budget, when that is lower): an
absolute floor, never a fraction of the budget, so a budget far above the real quota (a
quota raise that was never bought, a typo) still comes down to what Cognito accepts."""

MIN_BUDGET_PER_SECOND = 0.01
"""The smallest budget accepted (one call every 100 s): slower than this is a pause, and
the limiter's keys expire a few periods after their last use, so a period must stay short
enough for Redis's millisecond expiry times."""

MAX_BUDGET_PER_SECOND = 10_000.0
"""The largest budget accepted: 200 times Cognito's default UserResourceRead quota, well
above any quota raise seen; faster than this the limiter's Redis round trip is the limit."""

BUDGET_RANGE = f"{MIN_BUDGET_PER_SECOND:g} to {MAX_BUDGET_PER_SECOND:g} calls per second"
"""The accepted budgets, as error messages and ``--help`` name them."""


def check_budget(category: Category, per_second: float) -> float:
    """Return ``per_second`` as a float when it is a usable budget.

    Raises:
        ValueError: naming the category and :data:`BUDGET_RANGE`, when the budget is not a
            finite number from :data:`MIN_BUDGET_PER_SECOND` to
            :data:`MAX_BUDGET_PER_SECOND` calls/s.
    """
    value = float(per_second)
    if not (math.isfinite(value) and MIN_BUDGET_PER_SECOND <= value <= MAX_BUDGET_PER_SECOND):
        raise ValueError(f"{category} budget must be {BUDGET_RANGE}, got {per_second!r}")
    return value


def check_campaign(priority: Priority, campaign: CampaignShare | None) -> None:
    """Accept a campaign for a permit: only bulk work belongs to a campaign.

    Raises:
        ValueError: a ``campaign`` given for interactive work.
    """
    if campaign is not None and Priority(priority) is not Priority.BULK:
        raise ValueError(f"campaign {campaign.campaign_id}: only bulk permits belong to a campaign")


def check_timeout(timeout_seconds: float) -> None:
    """Accept a permit wait bound in seconds.

    Raises:
        ValueError: when ``timeout_seconds`` is negative or not a finite number.
    """
    if not (math.isfinite(timeout_seconds) and timeout_seconds >= 0):
        raise ValueError(
            f"timeout_seconds must be a finite number of seconds >= 0, got {timeout_seconds!r}"
        )


@dataclass(frozen=True)
class LimiterConfig:
    """What a limiter is configured with; the same object drives every backend.

    Attributes:
        budgets: calls/s per category, all workers together (the configured default;
            :meth:`RateLimiter.set_budget` overrides it at run time).
        bulk_shares: per category, the largest fraction of the current rate that bulk work
            may take (0 < share <= 1).
        floor_per_second: the adaptive rate never drops below ``min(budget, this)`` calls/s
            (:data:`MIN_RATE_PER_SECOND`); the floor is not tied to the budget.
        decrease_factor: a counted throttle multiplies the rate by this (0 < f < 1): the
            current rate when it starts an incident (no other counted throttle in the last
            ``CEILING_MEMORY_FACTOR * recovery_seconds``), else the rate calls were really
            sent at in the last second, unless settling under what passed is gentler.
        recovery_seconds: the climb after a decrease is ``max(ceiling, rate set) /
            recovery_seconds`` calls/s per second (tied to what was found, not to the
            budget); also how long the rate holds below the ceiling before probing higher.
        ceiling_margin: after a throttle the rate climbs back to ``ceiling * (1 - margin)``
            (the ceiling: the rate that was throttled, or what Cognito accepted in the last
            second when throttled again within the memory) and holds there.
        throttle_cooldown_seconds: reports closer than ``max(this, 1 / rate)`` to the last
            counted throttle are the same burst and count once.
        max_sleep_seconds: the longest single sleep inside ``acquire`` before asking again,
            so run-time budget changes are seen quickly.
        campaign_active_seconds: a campaign that asked for a bulk permit this recently holds
            its share of the bulk rate (:data:`CAMPAIGN_ACTIVE_SECONDS`).

    Raises:
        ValueError: on construction, naming the first value out of range.
    """

    budgets: Mapping[Category, float]
    bulk_shares: Mapping[Category, float] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(Category, 1.0))
    )
    floor_per_second: float = MIN_RATE_PER_SECOND
    decrease_factor: float = 0.5
    recovery_seconds: float = 30.0
    ceiling_margin: float = CEILING_MARGIN
    throttle_cooldown_seconds: float = THROTTLE_COOLDOWN_SECONDS
    max_sleep_seconds: float = 0.25
    campaign_active_seconds: float = CAMPAIGN_ACTIVE_SECONDS

    def __post_init__(self) -> None:
        budgets = {Category(c): check_budget(Category(c), v) for c, v in self.budgets.items()}
        missing = [c.value for c in Category if c not in budgets]
        if missing:
            raise ValueError(f"no budget configured for {', '.join(missing)}")
        shares = dict.fromkeys(Category, 1.0) | {
            Category(c): float(v) for c, v in self.bulk_shares.items()
        }
        for category, share in shares.items():
            if not 0 < share <= 1:
                raise ValueError(f"{category} bulk share must be in (0, 1], got {share!r}")
        if not (math.isfinite(self.floor_per_second) and self.floor_per_second > 0):
            raise ValueError(
                f"floor_per_second must be a finite number above 0, got {self.floor_per_second!r}"
            )
        if not 0 < self.decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), got {self.decrease_factor!r}")
        if not 0 <= self.ceiling_margin < 1:
            raise ValueError(f"ceiling_margin must be in [0, 1), got {self.ceiling_margin!r}")
        for name in (
            "recovery_seconds",
            "throttle_cooldown_seconds",
            "max_sleep_seconds",
            "campaign_active_seconds",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number above 0, got {value!r}")
        object.__setattr__(self, "budgets", MappingProxyType(budgets))
        object.__setattr__(self, "bulk_shares", MappingProxyType(shares))

    @classmethod
    def from_settings(cls, settings: Settings) -> LimiterConfig:
        """The configuration the settings describe.

        UserResourceRead gets ``settings.rate_limit`` and ``settings.bulk_share``; UserList
        gets ``settings.userlist_rate_limit`` and a bulk share of 1 (only campaigns list
        users, and its budget is already set for them).
        """
        return cls(
            budgets={
                Category.USER_RESOURCE_READ: settings.rate_limit,
                Category.USER_LIST: settings.userlist_rate_limit,
            },
            bulk_shares={
                Category.USER_RESOURCE_READ: settings.bulk_share,
                Category.USER_LIST: 1.0,
            },
            floor_per_second=settings.rate_floor_per_second,
            decrease_factor=settings.rate_decrease_factor,
            recovery_seconds=settings.rate_recovery_seconds,
        )


@dataclass(frozen=True)
class LimitState:
    """A snapshot of one category's budget and adaptive rate (rates in calls/s) in one
    Region (``region``; None for a limiter without a Region).

    ``last_throttle_at`` is in seconds since the epoch on the limiter's clock (Redis's own
    clock for the Redis backend), None if no throttle was ever counted; ``throttles`` counts
    throttle bursts (concurrent reports of one burst count once).
    ``observed_quota_per_second`` is what Cognito accepted (calls/s, grants minus throttles
    in about the last second) when a throttle repeated within the memory, while the rate is
    still below the budget; None otherwise. ``quota_below_budget`` says that it is below
    the budget: the budget is more than Cognito gives (a quota raise not bought, a typo,
    or the application's own calls taking part of the quota).
    """

    category: Category
    budget_per_second: float
    rate_per_second: float
    floor_per_second: float
    bulk_share: float
    bulk_rate_per_second: float
    last_throttle_at: float | None
    throttles: int
    region: str | None = None
    observed_quota_per_second: float | None = None

    @property
    def quota_below_budget(self) -> bool:
        """Whether the observed quota is below the budget (False before any measurement)."""
        q = self.observed_quota_per_second
        return q is not None and q < self.budget_per_second


@dataclass(frozen=True)
class Grant:
    """One permit handed out; given to a limiter's ``on_grant`` observer (metrics, tests).

    ``granted_at`` is on the limiter's clock (Redis ``TIME`` for the Redis backend), in
    seconds; ``waited_seconds`` is how long the caller waited for it.
    """

    category: Category
    priority: Priority
    waited_seconds: float
    granted_at: float


GrantObserver = Callable[[Grant], None]


class RateLimiter(Protocol):
    """A global permit source per quota category; every attempt to call Cognito takes one."""

    def acquire(
        self,
        category: Category,
        *,
        priority: Priority,
        timeout_seconds: float,
        campaign: CampaignShare | None = None,
    ) -> float:
        """Block until a permit is granted and return the seconds waited.

        ``campaign`` (bulk only) paces the permit at that campaign's share of the bulk
        rate (:class:`CampaignShare`); None: bulk work outside any campaign.

        Raises:
            PermitTimeoutError: when the wait would exceed ``timeout_seconds`` (decided
                before sleeping whenever the limiter can tell).
            ValueError: when ``timeout_seconds`` is negative or not a number, or a
                ``campaign`` is given for interactive work.
        """
        ...

    def try_acquire(
        self, category: Category, *, priority: Priority, campaign: CampaignShare | None = None
    ) -> float:
        """Take a permit if one is free now: 0.0 when granted, else seconds until one may be."""
        ...

    def campaign_shares(self, category: Category) -> dict[str, float]:
        """Each active campaign's current share of the bulk rate, calls/s, by campaign id."""
        ...

    def report_throttle(self, category: Category) -> None:
        """Record that Cognito answered TooManyRequests although the caller held a permit."""
        ...

    def state(self, category: Category) -> LimitState:
        """The category's budget, current adaptive rate and throttle history."""
        ...

    def set_budget(self, category: Category, per_second: float) -> None:
        """Change the budget at run time, for every client at once.

        Raises:
            ValueError: when ``per_second`` is outside :data:`BUDGET_RANGE`.
        """
        ...

    def reset(self, category: Category) -> None:
        """Return to the configured budget and forget the adaptive state and throttles."""
        ...
