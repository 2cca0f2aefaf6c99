"""The production limiter: one budget per Cognito quota category, kept in Redis.

Every thread of every worker on every host takes its permits here, so all of them together
stay within the budget (Celery's ``rate_limit`` is per worker and cannot do this). One
atomic Lua script per attempt (:mod:`worker.ratelimit._lua`), on Redis's own clock, so
hosts' clocks do not matter; docs/ratelimit.md tells the whole algorithm:

* **GCRA** with a burst tolerance of a quarter period (``BURST_TOLERANCE``): the key
  ``tat`` holds the theoretical arrival time of the next call; no window of ``W`` seconds
  holds more than ``1 + floor((W + tau) / T)`` grants, ``budget + 1`` per second.
* **Priority.** A bulk call must also conform to ``bulk_tat`` at ``rate * bulk_share``; a
  refused interactive call leaves a marker in ``waiting`` that holds bulk back, so a
  request waits at most about one period behind a saturating campaign.
* **Fair campaigns.** A campaign's bulk permit (``campaign=CampaignShare(id, weight)``)
  also passes its own GCRA at ``bulk_rate * weight / sum(weights of the campaigns active
  now)``, kept with the ``campaigns`` zset and ``campaign_weights`` hash by the same script.
* **Adaptive rate.** :meth:`RedisRateLimiter.report_throttle` lowers the rate once per
  burst (halved, or to just under what Cognito accepted), never below an absolute floor
  (1/s by default, not a fraction of the budget), so any budget comes down to the quota.
* **Budget.** ``set_budget`` writes the ``budget`` key that every script reads; each GCRA's
  tat is stored with its period (``"<tat> <period>"``) and rebased on the current one, so
  a change applies to the next permit in both directions. Budgets are
  :data:`~worker.ratelimit.base.BUDGET_RANGE`.

Its keys are :mod:`worker.ratelimit.keys`'.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from redis import Redis

from worker.errors import PermitTimeoutError
from worker.ratelimit import _lua
from worker.ratelimit.base import (
    BURST_TOLERANCE,
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
from worker.ratelimit.keys import (
    KEY_PREFIX,
    LimiterKeys,
    campaign_tat_key,
    every_region_budget_key,
    limiter_keys,
    regions_key,
)
from worker.ratelimit.shares import CAMPAIGN_BURST_TOLERANCE, CampaignShare, parse_shares

__all__ = ["RedisRateLimiter"]

INTERACTIVE_MARKER_SLACK_SECONDS = 0.02
"""How long past its expected return an interactive caller's marker still holds bulk back."""


class _Answer(NamedTuple):
    granted: bool
    wait_seconds: float
    now: float
    period_seconds: float | None = None  # a grant's: 1 / the rate it was granted at


class RedisRateLimiter:
    """A :class:`~worker.ratelimit.RateLimiter` whose state lives in Redis.

    Thread-safe (a redis-py client is); make one per process and share it.

    Args:
        redis: the client (``decode_responses`` either way).
        config: budgets, bulk shares and the adaptive parameters.
        on_grant: called with a :class:`~worker.ratelimit.Grant` after every permit, in the
            caller's thread (for metrics); it must not raise.
        key_prefix: prefix of every key (tests may isolate themselves with it).
        region: the AWS Region whose budget this is (its keys are
            ``{prefix}:{region}:{{Category}}:...``); None: the keys without a Region.
        sleep: how to wait between attempts, in seconds.
        monotonic: the clock that measures waits, in seconds.
    """

    def __init__(
        self,
        redis: Redis,
        config: LimiterConfig,
        *,
        on_grant: GrantObserver | None = None,
        key_prefix: str = KEY_PREFIX,
        region: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._config = config
        self._on_grant = on_grant
        self._prefix = key_prefix
        self._region = region
        self._sleep = sleep
        self._monotonic = monotonic
        self._acquire_script = redis.register_script(_lua.ACQUIRE)
        self._throttle_script = redis.register_script(_lua.THROTTLE)
        self._state_script = redis.register_script(_lua.STATE)
        self._shares_script = redis.register_script(_lua.SHARES)

    @property
    def config(self) -> LimiterConfig:
        """The configuration this limiter was built with."""
        return self._config

    @property
    def region(self) -> str | None:
        """The AWS Region whose budget this is (None: a limiter without a Region)."""
        return self._region

    def keys(self, category: Category) -> tuple[str, ...]:
        """Every Redis key holding the category's state (for operators and tests)."""
        return tuple(self._keys(Category(category)))

    def acquire(
        self,
        category: Category,
        *,
        priority: Priority,
        timeout_seconds: float,
        campaign: CampaignShare | None = None,
    ) -> float:
        """Block until a permit is granted; return the seconds waited.

        ``campaign`` (bulk only) paces the permit at the campaign's share of the bulk rate.

        Raises:
            PermitTimeoutError: when the wait would exceed ``timeout_seconds``; decided as
                soon as Redis answers a wait longer than the time left, before sleeping.
            ValueError: when ``timeout_seconds`` is negative or not a number, or a
                ``campaign`` is given for interactive work.
            redis.RedisError: when Redis cannot be reached or refuses the script.
        """
        category, priority = Category(category), Priority(priority)
        check_timeout(timeout_seconds)
        check_campaign(priority, campaign)
        token = uuid.uuid4().hex
        start = self._monotonic()
        while True:
            attempt_started = time.monotonic()
            answer = self._attempt(category, priority, token, campaign)
            waited = self._monotonic() - start
            if answer.granted:
                note_granting_attempt(attempt_started, answer.period_seconds)
                if self._on_grant is not None:
                    self._on_grant(Grant(category, priority, waited, answer.now))
                return waited
            if answer.wait_seconds > timeout_seconds - waited:
                if priority is Priority.INTERACTIVE:
                    self._redis.zrem(self._keys(category).waiting, token)
                raise PermitTimeoutError(
                    f"no {category} permit within {timeout_seconds:.3g} s "
                    f"(waited {waited:.3g} s, next in {answer.wait_seconds:.3g} s)"
                )
            self._sleep(min(answer.wait_seconds, self._config.max_sleep_seconds))

    def try_acquire(
        self, category: Category, *, priority: Priority, campaign: CampaignShare | None = None
    ) -> float:
        """Take a permit if one is free now (``campaign``: as for :meth:`acquire`).

        Returns:
            0.0 when granted, else the seconds until one may be (an estimate: others may
            take it first).

        Raises:
            ValueError: a ``campaign`` given for interactive work.
            redis.RedisError: when Redis cannot be reached.
        """
        category, priority = Category(category), Priority(priority)
        check_campaign(priority, campaign)
        answer = self._attempt(category, priority, uuid.uuid4().hex, campaign)
        if answer.granted:
            if self._on_grant is not None:
                self._on_grant(Grant(category, priority, 0.0, answer.now))
            return 0.0
        return answer.wait_seconds

    def report_throttle(self, category: Category) -> None:
        """Lower the category's rate for every client after a TooManyRequests answer.

        Concurrent reports of one burst count once (see the module docstring).

        Raises:
            redis.RedisError: when Redis cannot be reached.
        """
        category = Category(category)
        keys = self._keys(category)
        config = self._config
        self._throttle_script(
            keys=[keys.budget, keys.adapt, self.every_region_budget_key(category)],
            args=[
                repr(config.budgets[category]),
                repr(config.floor_per_second),
                repr(config.recovery_seconds),
                repr(config.decrease_factor),
                repr(config.throttle_cooldown_seconds),
                repr(config.ceiling_margin),
            ],
        )

    def state(self, category: Category) -> LimitState:
        """The category's budget, current adaptive rate (calls/s) and throttle history.

        Raises:
            redis.RedisError: when Redis cannot be reached.
        """
        category = Category(category)
        keys = self._keys(category)
        config = self._config
        budget, rate, floor, last_at, throttles, observed = self._state_script(
            keys=[keys.budget, keys.adapt, self.every_region_budget_key(category)],
            args=[
                repr(config.budgets[category]),
                repr(config.floor_per_second),
                repr(config.recovery_seconds),
                repr(config.ceiling_margin),
            ],
        )
        share = config.bulk_shares[category]
        return LimitState(
            category=category,
            budget_per_second=float(budget),
            rate_per_second=float(rate),
            floor_per_second=float(floor),
            bulk_share=share,
            bulk_rate_per_second=float(rate) * share,
            last_throttle_at=float(last_at) if last_at else None,
            throttles=int(throttles),
            region=self._region,
            observed_quota_per_second=float(observed) if observed else None,
        )

    def campaign_shares(self, category: Category) -> dict[str, float]:
        """Each campaign active in the last ``config.campaign_active_seconds`` and its share
        of the bulk rate now, calls/s (``bulk rate * weight / sum of the active weights``).

        Raises:
            redis.RedisError: when Redis cannot be reached.
        """
        return parse_shares(self.queue_campaign_shares(Category(category), self._redis))

    def queue_campaign_shares(self, category: Category, client: Any, *, raw: bool = False) -> Any:
        """Run (or queue, on a pipeline ``client``) the script behind :meth:`campaign_shares`
        (:func:`parse_shares` reads it); ``raw``: a bare EVALSHA, no SCRIPT EXISTS trip
        first (the caller handles NoScriptError with :meth:`load_scripts`)."""
        keys, config = self._keys(category), self._config
        script_keys = [
            keys.budget,
            keys.adapt,
            self.every_region_budget_key(category),
            keys.campaigns,
            keys.campaign_weights,
        ]
        args = [
            repr(config.budgets[category]),
            repr(config.floor_per_second),
            repr(config.recovery_seconds),
            repr(config.ceiling_margin),
            repr(config.bulk_shares[category]),
            repr(config.campaign_active_seconds),
        ]
        if raw:
            return client.evalsha(self._shares_script.sha, len(script_keys), *script_keys, *args)
        return self._shares_script(keys=script_keys, args=args, client=client)

    def load_scripts(self) -> None:
        """Load the limiter's scripts into Redis (after a NOSCRIPT: a restarted Redis)."""
        for script in (self._acquire_script, self._shares_script):
            self._redis.script_load(script.script)

    def set_budget(self, category: Category, per_second: float) -> None:
        """Override the configured budget (calls/s) for every client, from the next attempt;
        a Region's limiter also adds its Region to the Regions seen (:meth:`regions_key`).

        Raises:
            ValueError: when ``per_second`` is outside :data:`~worker.ratelimit.base.BUDGET_RANGE`.
            redis.RedisError: when Redis cannot be reached.
        """
        category = Category(category)
        value = check_budget(category, per_second)
        if self._region is None:
            self._redis.set(self._keys(category).budget, repr(value))
            return
        pipe = self._redis.pipeline(transaction=True)  # one hash slot: the category's
        pipe.set(self._keys(category).budget, repr(value))
        pipe.sadd(self.regions_key(category), self._region)
        pipe.execute()

    def reset(self, category: Category) -> None:
        """Drop the budget override, the adaptive state, the throttle count and the GCRAs.

        Raises:
            redis.RedisError: when Redis cannot be reached.
        """
        keys = self._keys(Category(category))
        members = cast("list[bytes | str]", self._redis.zrange(keys.campaigns, 0, -1))
        ids = (m.decode() if isinstance(m, bytes) else m for m in members)
        self._redis.delete(*keys, *(campaign_tat_key(keys, i) for i in ids))

    def set_default_budget(self, category: Category, per_second: float | None) -> None:
        """Override the budget of every Region that has no override of its own (None:
        drop that override).

        Raises:
            ValueError: when ``per_second`` is outside :data:`~worker.ratelimit.base.BUDGET_RANGE`.
            redis.RedisError: when Redis cannot be reached.
        """
        category = Category(category)
        if per_second is None:
            self._redis.delete(self.every_region_budget_key(category))
            return
        value = check_budget(category, per_second)
        self._redis.set(self.every_region_budget_key(category), repr(value))

    def every_region_budget_key(self, category: Category) -> str:
        """The key of the budget override for every Region (the first scheme's key)."""
        return every_region_budget_key(self._prefix, category)

    def regions_key(self, category: Category) -> str:
        """The set of every Region whose limiter took (or asked for) a permit or was given a
        budget of its own (:meth:`set_budget`)."""
        return regions_key(self._prefix, category)

    def _keys(self, category: Category) -> LimiterKeys:
        return limiter_keys(self._prefix, self._region, category)

    def _attempt(
        self,
        category: Category,
        priority: Priority,
        token: str,
        campaign: CampaignShare | None,
    ) -> _Answer:
        keys = self._keys(category)
        config = self._config
        script_keys = [
            keys.budget,
            keys.adapt,
            keys.tat,
            keys.bulk_tat,
            keys.waiting,
            self.every_region_budget_key(category),
            self.regions_key(category),
        ]
        if campaign is not None:
            script_keys += [
                keys.campaigns,
                keys.campaign_weights,
                campaign_tat_key(keys, campaign.campaign_id),
            ]
        granted, wait, now = self._acquire_script(
            keys=script_keys,
            args=[
                repr(config.budgets[category]),
                repr(config.floor_per_second),
                repr(config.recovery_seconds),
                repr(config.bulk_shares[category]),
                priority.value,
                token,
                repr(INTERACTIVE_MARKER_SLACK_SECONDS),
                repr(config.ceiling_margin),
                repr(BURST_TOLERANCE),
                self._region or "",
                campaign.campaign_id if campaign is not None else "",
                repr(campaign.weight) if campaign is not None else "1.0",
                repr(config.campaign_active_seconds),
                repr(CAMPAIGN_BURST_TOLERANCE),
            ],
        )
        if int(granted):  # a grant's second value is the period it was granted at
            return _Answer(True, 0.0, float(now), float(wait))
        return _Answer(False, max(0.0, float(wait)), float(now))
