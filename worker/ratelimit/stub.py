"""An in-process limiter with the Redis limiter's semantics, for unit tests.

:class:`StubRateLimiter` runs the same algorithm as
:class:`~worker.ratelimit.redis.RedisRateLimiter` (GCRA with a burst tolerance of
:data:`~worker.ratelimit.base.BURST_TOLERANCE` of a period, a second GCRA for bulk at
``rate * bulk_share``, a GCRA per active campaign at its weighted part of that,
interactive-waiting markers that hold bulk back, an adaptive rate
lowered on throttles to just under the ceiling it finds, held there, then probing higher)
under a lock, on an injectable clock. Hand it a :class:`ManualClock` (whose ``sleep``
advances it) and code that waits for permits runs instantly and deterministically::

    clock = ManualClock()
    limiter = StubRateLimiter(config, clock=clock, sleep=clock.sleep)

It limits the threads of one process only: never use it in production.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from worker.errors import PermitTimeoutError
from worker.ratelimit.base import (
    BURST_TOLERANCE,
    CEILING_MEMORY_FACTOR,
    Category,
    Grant,
    GrantObserver,
    LimiterConfig,
    LimitState,
    Priority,
    check_budget,
    check_campaign,
    check_timeout,
)
from worker.ratelimit.freshness import note_granting_attempt
from worker.ratelimit.shares import CAMPAIGN_BURST_TOLERANCE, CampaignShare

__all__ = ["ManualClock", "StubRateLimiter"]

_MARKER_SLACK_SECONDS = 0.02
_NEVER = (float("-inf"), 0.0)  # a GCRA that never granted: (tat, period)


class ManualClock:
    """A clock that moves only when told: call it for the time, ``sleep`` to advance it.

    Thread-safe; seconds. Starts at ``start`` (default 1,000,000 s, so times look like
    epoch seconds and never reach 0).
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` (negative values are ignored)."""
        with self._lock:
            self._now += max(0.0, seconds)

    advance = sleep


@dataclass
class _Bucket:
    budget: float | None = None  # run-time override
    # each GCRA's theoretical arrival time with the period it was advanced by: a rate
    # change rebases it (the next grant comes one current period after the last one)
    tat: float = float("-inf")
    tat_period: float = 0.0
    bulk_tat: float = float("-inf")
    bulk_tat_period: float = 0.0
    waiting: dict[str, float] = field(default_factory=dict)  # token -> until
    # campaign id -> (last request, weight); campaign id -> (tat, period) of its share
    campaigns: dict[str, tuple[float, float]] = field(default_factory=dict)
    campaign_tats: dict[str, tuple[float, float]] = field(default_factory=dict)
    adapted_rate: float | None = None
    adapted_at: float | None = None
    ceiling: float | None = None
    observed: float | None = None  # accepted calls/s measured at a repeated throttle
    throttles: int = 0
    # sliding count of calls (only once a throttle was counted)
    window_start: float | None = None
    granted: int = 0
    reported: int = 0
    previous_per_second: float = 0.0  # accepted calls/s of the window before
    previous_granted_per_second: float = 0.0

    def tally(self, now: float, *, granted: int = 0, reported: int = 0) -> None:
        """Count grants and throttle reports in the sliding one-second window."""
        if self.window_start is None or now - self.window_start >= 1:
            self.previous_per_second = self.previous_granted_per_second = 0.0
            if self.window_start is not None and now > self.window_start:
                span = now - self.window_start
                self.previous_per_second = (self.granted - self.reported) / span
                self.previous_granted_per_second = self.granted / span
            self.window_start, self.granted, self.reported = now, 0, 0
        self.granted += granted
        self.reported += reported

    def last_second(self, now: float) -> tuple[float, float] | None:
        """(accepted, granted) calls/s in about the last second; None before any count."""
        if self.window_start is None:
            return None
        accepted = self.granted - self.reported
        span = now - self.window_start
        if span >= 1:
            return max(0.0, accepted / span), self.granted / span
        rest = 1 - span
        return (
            max(0.0, accepted + self.previous_per_second * rest),
            self.granted + self.previous_granted_per_second * rest,
        )


class StubRateLimiter:
    """A :class:`~worker.ratelimit.RateLimiter` for the threads of one process.

    Args:
        config: budgets, bulk shares and the adaptive parameters.
        clock: current time in seconds (default :func:`time.time`, so ``last_throttle_at``
            reads like the Redis backend's).
        sleep: waits the given seconds; with a fake clock it should advance that clock.
        on_grant: called with a :class:`~worker.ratelimit.Grant` after every permit.
    """

    def __init__(
        self,
        config: LimiterConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_grant: GrantObserver | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._on_grant = on_grant
        self._lock = threading.Lock()
        self._buckets = {category: _Bucket() for category in Category}

    @property
    def config(self) -> LimiterConfig:
        """The configuration this limiter was built with."""
        return self._config

    def acquire(
        self,
        category: Category,
        *,
        priority: Priority,
        timeout_seconds: float,
        campaign: CampaignShare | None = None,
    ) -> float:
        """Block until a permit is granted; return the seconds waited on the stub's clock.

        ``campaign`` (bulk only) paces the permit at the campaign's share of the bulk rate.

        Raises:
            PermitTimeoutError: when the wait would exceed ``timeout_seconds`` (decided
                before sleeping).
            ValueError: when ``timeout_seconds`` is negative or not a number, or a
                ``campaign`` is given for interactive work.
        """
        category, priority = Category(category), Priority(priority)
        check_timeout(timeout_seconds)
        check_campaign(priority, campaign)
        token = uuid.uuid4().hex
        start = self._clock()
        while True:
            attempt_started = time.monotonic()
            wait, now, period = self._attempt(category, priority, token, campaign)
            waited = now - start
            if wait == 0.0:
                note_granting_attempt(attempt_started, period)
                if self._on_grant is not None:
                    self._on_grant(Grant(category, priority, waited, now))
                return waited
            if wait > timeout_seconds - waited:
                with self._lock:
                    self._buckets[category].waiting.pop(token, None)
                raise PermitTimeoutError(
                    f"no {category} permit within {timeout_seconds:.3g} s "
                    f"(waited {waited:.3g} s, next in {wait:.3g} s)"
                )
            self._sleep(min(wait, self._config.max_sleep_seconds))

    def try_acquire(
        self, category: Category, *, priority: Priority, campaign: CampaignShare | None = None
    ) -> float:
        """Take a permit if one is free now: 0.0 when granted, else seconds until one may be.

        Raises:
            ValueError: a ``campaign`` given for interactive work.
        """
        category, priority = Category(category), Priority(priority)
        check_campaign(priority, campaign)
        wait, now, _ = self._attempt(category, priority, uuid.uuid4().hex, campaign)
        if wait == 0.0 and self._on_grant is not None:
            self._on_grant(Grant(category, priority, 0.0, now))
        return wait

    def report_throttle(self, category: Category) -> None:
        """Lower the rate after a TooManyRequests answer; one burst of reports counts once."""
        category = Category(category)
        config = self._config
        with self._lock:
            bucket = self._buckets[category]
            now = self._clock()
            _, floor, rate = self._rates(category, bucket, now)
            adapted = bucket.adapted_at is not None
            if adapted:
                bucket.tally(now, reported=1)
            cooldown = max(config.throttle_cooldown_seconds, 1 / rate)
            if bucket.adapted_at is not None and now - bucket.adapted_at < cooldown:
                return
            new_rate, ceiling = _decrease(bucket, rate, floor, now, config)
            bucket.adapted_rate = max(floor, min(new_rate, rate))
            bucket.adapted_at = now
            bucket.ceiling = ceiling
            if not adapted:
                bucket.window_start, bucket.granted, bucket.reported = now, 0, 0
                bucket.previous_per_second = bucket.previous_granted_per_second = 0.0
            bucket.throttles += 1

    def state(self, category: Category) -> LimitState:
        """The category's budget, current adaptive rate (calls/s) and throttle history."""
        category = Category(category)
        with self._lock:
            bucket = self._buckets[category]
            budget, floor, rate = self._rates(category, bucket, self._clock())
            share = self._config.bulk_shares[category]
            observed = bucket.observed if rate < budget else None
            return LimitState(
                category=category,
                budget_per_second=budget,
                rate_per_second=rate,
                floor_per_second=floor,
                bulk_share=share,
                bulk_rate_per_second=rate * share,
                last_throttle_at=bucket.adapted_at,
                throttles=bucket.throttles,
                observed_quota_per_second=observed,
            )

    def campaign_shares(self, category: Category) -> dict[str, float]:
        """Each active campaign's current share of the bulk rate, calls/s, by campaign id."""
        category = Category(category)
        with self._lock:
            bucket = self._buckets[category]
            now = self._clock()
            _, _, rate = self._rates(category, bucket, now)
            bulk_rate = rate * self._config.bulk_shares[category]
            active = {
                cid: weight
                for cid, (last, weight) in bucket.campaigns.items()
                if last >= now - self._config.campaign_active_seconds
            }
        total = sum(active.values())
        return {cid: bulk_rate * w / total for cid, w in active.items()} if total else {}

    def set_budget(self, category: Category, per_second: float) -> None:
        """Override the configured budget (calls/s) from the next attempt.

        Raises:
            ValueError: when ``per_second`` is outside :data:`~worker.ratelimit.base.BUDGET_RANGE`.
        """
        category = Category(category)
        value = check_budget(category, per_second)
        with self._lock:
            self._buckets[category].budget = value

    def reset(self, category: Category) -> None:
        """Drop the budget override, the adaptive state, the throttle count and the GCRAs."""
        with self._lock:
            self._buckets[Category(category)] = _Bucket()

    def _rates(self, category: Category, bucket: _Bucket, now: float) -> tuple[float, float, float]:
        """(budget, floor, current adaptive rate) in calls/s."""
        config = self._config
        budget = bucket.budget if bucket.budget is not None else config.budgets[category]
        floor = min(budget, config.floor_per_second)
        rate = budget
        if bucket.adapted_rate is not None and bucket.adapted_at is not None:
            base = bucket.adapted_rate
            ceiling = bucket.ceiling if bucket.ceiling is not None else budget
            slope = max(ceiling, base, floor) / config.recovery_seconds
            since = max(0.0, now - bucket.adapted_at)
            plateau = max(base, ceiling * (1 - config.ceiling_margin))
            hold = config.recovery_seconds
            rate = min(plateau, base + slope * since) + slope * max(0.0, since - hold)
        return budget, floor, min(budget, max(floor, rate))

    def _attempt(
        self,
        category: Category,
        priority: Priority,
        token: str,
        campaign: CampaignShare | None,
    ) -> tuple[float, float, float]:
        """One GCRA decision: (0.0, now, the period granted at) when granted, else
        (seconds to wait, now, that period)."""
        with self._lock:
            bucket = self._buckets[category]
            now = self._clock()
            _, _, rate = self._rates(category, bucket, now)
            period = 1 / rate
            tat = max(bucket.tat - bucket.tat_period + period, now)
            wait = tat - BURST_TOLERANCE * period - now
            bucket.waiting = {t: until for t, until in bucket.waiting.items() if until > now}
            bulk = priority is Priority.BULK
            bulk_period = period / self._config.bulk_shares[category]
            bulk_tat = max(bucket.bulk_tat - bucket.bulk_tat_period + bulk_period, now)
            if bulk:
                if wait < period and bucket.waiting:
                    wait = period
                wait = max(wait, bulk_tat - BURST_TOLERANCE * bulk_period - now)
            share_tat = share_period = 0.0
            if bulk and campaign is not None:
                active = _active_weight(bucket, campaign, now, self._config.campaign_active_seconds)
                share_period = bulk_period * active / campaign.weight
                last_tat, last_period = bucket.campaign_tats.get(campaign.campaign_id, _NEVER)
                share_tat = max(last_tat - last_period + share_period, now)
                wait = max(wait, share_tat - CAMPAIGN_BURST_TOLERANCE * share_period - now)
            if wait > 0:
                if not bulk:
                    bucket.waiting[token] = now + wait + _MARKER_SLACK_SECONDS
                return wait, now, period
            bucket.tat, bucket.tat_period = tat + period, period
            if bulk:
                bucket.bulk_tat, bucket.bulk_tat_period = bulk_tat + bulk_period, bulk_period
                if campaign is not None:
                    tat_and_period = (share_tat + share_period, share_period)
                    bucket.campaign_tats[campaign.campaign_id] = tat_and_period
            else:
                bucket.waiting.pop(token, None)
            if bucket.adapted_at is not None:
                bucket.tally(now, granted=1)
            return 0.0, now, period


def _decrease(
    bucket: _Bucket, rate: float, floor: float, now: float, config: LimiterConfig
) -> tuple[float, float]:
    """(new rate, ceiling) for a counted throttle at ``rate``: the THROTTLE script's law.

    A fresh incident multiplies ``rate`` by the decrease factor. Within the memory of the
    last one, the decrease applies to the rate calls were really sent at, settling under
    what was accepted when that is gentler; when most calls were refused, straight under
    what was accepted (records it as the observed quota).
    """
    decrease, margin = config.decrease_factor, config.ceiling_margin
    memory = CEILING_MEMORY_FACTOR * config.recovery_seconds
    if bucket.adapted_at is None or now - bucket.adapted_at > memory:
        return rate * decrease, rate
    seen = bucket.last_second(now)
    if seen is None:
        return rate * decrease, rate
    accepted, sent = seen
    effective = sent if 0 < sent < rate else rate
    bucket.observed = accepted
    ceiling = min(rate, accepted)
    if floor <= accepted < effective * decrease:
        return ceiling * (1 - margin), ceiling
    return max(effective * decrease, ceiling * (1 - margin)), ceiling


def _active_weight(bucket: _Bucket, campaign: CampaignShare, now: float, window: float) -> float:
    """Note ``campaign``'s request, forget campaigns idle for ``window`` seconds, and
    return the sum of the active campaigns' weights."""
    bucket.campaigns[campaign.campaign_id] = (now, campaign.weight)
    horizon = now - window
    for cid in [c for c, (last, _) in bucket.campaigns.items() if last < horizon]:
        del bucket.campaigns[cid]
        bucket.campaign_tats.pop(cid, None)
    return sum(weight for _, weight in bucket.campaigns.values())
