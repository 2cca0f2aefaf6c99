"""The production limiter: one budget per Cognito quota category, kept in Redis.

Every thread of every worker on every host takes its permits here, so all of them together
stay within the budget (Celery's ``rate_limit`` is per worker and cannot do this).

Algorithm (one atomic Lua script per attempt, on Redis's own clock, so hosts' clocks do
not matter):

* **GCRA** (generic cell rate algorithm). The key ``tat`` holds the *theoretical arrival
  time* of the next call. With period ``T = 1 / rate`` and the burst tolerance
  ``tau = BURST_TOLERANCE * T`` (a quarter period) a call at ``now`` conforms when
  ``max(tat, now) - tau <= now``, and then ``tat = max(tat, now) + T``. The tolerance lets
  a caller that arrives a little late keep its slot (little capacity is lost to scheduling
  jitter) while no window of ``W`` seconds holds more than ``1 + floor((W + tau) / T)``
  grants across all processes: ``budget + 1`` per second, with three quarters of a period
  to spare for the spread between a grant and its call reaching Cognito.
* **Priority.** A bulk call must also conform to a second GCRA (``bulk_tat``) running at
  ``rate * bulk_share``; both are checked and advanced in the same script. An interactive
  call passes the global GCRA only. When an interactive call is refused it leaves a
  marker (a member of the ``waiting`` sorted set, scored with the time it will come back
  plus a little slack) and bulk calls are refused while any marker is live, so a request
  waits at most about one period behind a saturating campaign. A granted interactive call
  removes its own marker.
* **Adaptive rate.** :meth:`RedisRateLimiter.report_throttle` lowers the rate. Reports
  within ``max(cooldown, 1 / rate)`` of the last counted one belong to the same burst and
  count once. A throttle that starts an incident (none counted in the last
  ``CEILING_MEMORY_FACTOR * recovery_seconds``) multiplies the rate by ``decrease_factor``
  and takes the throttled rate as the *ceiling*; one that continues an incident takes as
  the ceiling what Cognito accepted in about the last second (grants minus throttle
  reports, a sliding count kept in the ``adapt`` hash) and drops to just under it. Never
  below ``floor = budget * floor_fraction``. The rate then climbs linearly (from the floor
  to the budget in ``recovery_seconds``) up to ``ceiling * (1 - ceiling_margin)``, holds
  there until ``recovery_seconds`` after the throttle, and climbs on to the budget (a
  probe). Every script computes it lazily from the ``adapt`` hash, so no process has to
  run in the background.
* **Budget.** The configured budget can be overridden at run time (``budget`` key, written
  by :meth:`RedisRateLimiter.set_budget`); every script reads it, so a change applies to
  every worker on its next attempt. ``tat`` and ``bulk_tat`` are stored with the period
  they were advanced by (``"<tat> <period>"``) and rebased on the current period when
  read, so the next permit after a change (a new budget or an adaptive step) comes one
  *new* period after the last grant, in both directions: after ``limit set 0.05`` and one
  call, ``limit set 40`` lets the next call go within 1/40 s, not 20 s later.
  Budgets are :data:`~worker.ratelimit.base.BUDGET_RANGE` (0.01 to 10,000 calls/s).

Keys, per Region and category (the braces are a Redis Cluster hash tag: one slot per
category; a limiter made without a Region leaves ``eu-west-1:`` out)::

    courier:rl:{UserResourceRead}:budget    string  budget override for every Region
                                                    without its own (``set_default_budget``)
    courier:rl:{UserResourceRead}:regions   set     every Region that asked for a permit

    courier:rl:eu-west-1:{UserResourceRead}:budget    string  the Region's budget override
    courier:rl:eu-west-1:{UserResourceRead}:adapt     hash    rate, at, ceiling (last counted
                                                              throttle), throttles; sliding
                                                              count w, g, x, pe
    courier:rl:eu-west-1:{UserResourceRead}:tat       string  the Region's GCRA theoretical
                                                              arrival time and its period
    courier:rl:eu-west-1:{UserResourceRead}:bulk_tat  string  bulk GCRA theoretical arrival
                                                              and its period
    courier:rl:eu-west-1:{UserResourceRead}:waiting   zset    interactive callers waiting:
                                                              token -> until

``tat``, ``bulk_tat`` and ``waiting`` expire on their own when idle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import NamedTuple

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
    check_timeout,
)
from worker.ratelimit.freshness import note_granting_attempt

__all__ = ["KEY_PREFIX", "RedisRateLimiter"]

KEY_PREFIX = "courier:rl"

INTERACTIVE_MARKER_SLACK_SECONDS = 0.02
"""How long past its expected return an interactive caller's marker still holds bulk back."""


class _Keys(NamedTuple):
    budget: str
    adapt: str
    tat: str
    bulk_tat: str
    waiting: str


class _Answer(NamedTuple):
    granted: bool
    wait_seconds: float
    now: float


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

    def acquire(self, category: Category, *, priority: Priority, timeout_seconds: float) -> float:
        """Block until a permit is granted; return the seconds waited.

        Raises:
            PermitTimeoutError: when the wait would exceed ``timeout_seconds``; decided as
                soon as Redis answers a wait longer than the time left, before sleeping.
            ValueError: when ``timeout_seconds`` is negative or not a number.
            redis.RedisError: when Redis cannot be reached or refuses the script.
        """
        category, priority = Category(category), Priority(priority)
        check_timeout(timeout_seconds)
        token = uuid.uuid4().hex
        start = self._monotonic()
        while True:
            attempt_started = time.monotonic()
            answer = self._attempt(category, priority, token)
            waited = self._monotonic() - start
            if answer.granted:
                note_granting_attempt(attempt_started)
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

    def try_acquire(self, category: Category, *, priority: Priority) -> float:
        """Take a permit if one is free now.

        Returns:
            0.0 when granted, else the seconds until one may be (an estimate: others may
            take it first).

        Raises:
            redis.RedisError: when Redis cannot be reached.
        """
        category, priority = Category(category), Priority(priority)
        answer = self._attempt(category, priority, uuid.uuid4().hex)
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
                repr(config.floor_fraction),
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
        budget, rate, floor, last_at, throttles = self._state_script(
            keys=[keys.budget, keys.adapt, self.every_region_budget_key(category)],
            args=[
                repr(config.budgets[category]),
                repr(config.floor_fraction),
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
        )

    def set_budget(self, category: Category, per_second: float) -> None:
        """Override the configured budget (calls/s) for every client, from the next attempt.

        Raises:
            ValueError: when ``per_second`` is outside :data:`~worker.ratelimit.base.BUDGET_RANGE`.
            redis.RedisError: when Redis cannot be reached.
        """
        category = Category(category)
        value = check_budget(category, per_second)
        self._redis.set(self._keys(category).budget, repr(value))

    def reset(self, category: Category) -> None:
        """Drop the budget override, the adaptive state, the throttle count and the GCRAs.

        Raises:
            redis.RedisError: when Redis cannot be reached.
        """
        self._redis.delete(*self._keys(Category(category)))

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
        return f"{self._prefix}:{{{Category(category).value}}}:budget"

    def regions_key(self, category: Category) -> str:
        """The set of every Region whose limiter took (or asked for) a permit."""
        return f"{self._prefix}:{{{Category(category).value}}}:regions"

    def _keys(self, category: Category) -> _Keys:
        region = f"{self._region}:" if self._region is not None else ""
        base = f"{self._prefix}:{region}{{{category.value}}}:"
        return _Keys(*(base + name for name in _Keys._fields))

    def _attempt(self, category: Category, priority: Priority, token: str) -> _Answer:
        keys = self._keys(category)
        config = self._config
        granted, wait, now = self._acquire_script(
            keys=[*keys, self.every_region_budget_key(category), self.regions_key(category)],
            args=[
                repr(config.budgets[category]),
                repr(config.floor_fraction),
                repr(config.recovery_seconds),
                repr(config.bulk_shares[category]),
                priority.value,
                token,
                repr(INTERACTIVE_MARKER_SLACK_SECONDS),
                repr(config.ceiling_margin),
                repr(BURST_TOLERANCE),
                self._region or "",
            ],
        )
        return _Answer(bool(int(granted)), max(0.0, float(wait)), float(now))
