"""A budget per AWS Region: one :class:`RedisRateLimiter` per Region, made on first use.

Cognito's request-rate quotas are per account *and Region* (Cognito developer guide,
"Quotas in Amazon Cognito": "per account per Region"), so every quota category gets
``COURIER_RATE_LIMIT`` (or the UserList budget) in each Region, with all the limiter's
guarantees (budget + 1 in any second, adaptive rate, priority, fresh permits) holding in
each Region on its own keys (:mod:`worker.ratelimit.redis`).

Every Region that asks for a permit (added by the acquire script) or is given a budget of
its own (``courier limit set N --region R``, added by
:meth:`~worker.ratelimit.redis.RedisRateLimiter.set_budget`) is in the set
``courier:rl:{Category}:regions``, so ``courier limit show`` and the metrics list these
Regions seen as well as those configured.
A budget set without a Region (``courier limit set N``) applies to every Region that has
no override of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from redis import Redis

from worker.ratelimit.base import Category, GrantObserver, LimiterConfig
from worker.ratelimit.keys import KEY_PREFIX
from worker.ratelimit.redis import RedisRateLimiter
from worker.ratelimit.shares import parse_shares, share_of

__all__ = ["REGIONS_KEY", "RegionalLimiters"]

REGIONS_KEY = f"{KEY_PREFIX}:{{{Category.USER_RESOURCE_READ.value}}}:regions"
"""The set of Regions that asked for a UserResourceRead permit or were given a budget of
their own (one such set per category, kept by the acquire script itself, so it survives a
Redis without persistence, and by ``set_budget``)."""


class RegionalLimiters:
    """The limiters of every Region, shared by a process's threads.

    Args:
        redis: the client.
        config: budgets and adaptive parameters (the same in every Region).
        on_grant: observer of every permit (metrics).
        key_prefix: prefix of every key.
    """

    def __init__(
        self,
        redis: Redis,
        config: LimiterConfig,
        *,
        on_grant: GrantObserver | None = None,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self._redis = redis
        self._config = config
        self._on_grant = on_grant
        self._prefix = key_prefix
        self._lock = threading.Lock()
        self._limiters: dict[str, RedisRateLimiter] = {}
        self._every_region = RedisRateLimiter(redis, config, key_prefix=key_prefix)
        self._share_regions: set[str] = set()  # Regions whose campaign shares are read

    @property
    def config(self) -> LimiterConfig:
        """The configuration every Region's limiter is built with."""
        return self._config

    def for_region(self, region: str) -> RedisRateLimiter:
        """The limiter of ``region`` (made once; no Redis traffic).

        Raises:
            ValueError: ``region`` is empty.
        """
        if not region:
            raise ValueError("region must not be empty")
        limiter = self._limiters.get(region)
        if limiter is None:
            with self._lock:
                limiter = self._limiters.get(region)
                if limiter is None:
                    limiter = RedisRateLimiter(
                        self._redis,
                        self._config,
                        on_grant=self._on_grant,
                        key_prefix=self._prefix,
                        region=region,
                    )
                    self._limiters[region] = limiter
        return limiter

    def seen(self) -> list[str]:
        """Every Region that asked for a permit or was given a budget of its own (of any
        category); sorted.

        Raises:
            redis.RedisError: Redis cannot be reached.
        """
        pipe = self._redis.pipeline(transaction=False)
        for category in Category:
            pipe.smembers(self._every_region.regions_key(category))
        members = {m for found in pipe.execute() for m in found}
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    def known(self, configured: list[str]) -> list[str]:
        """``configured`` and the Regions seen, sorted, each once."""
        return sorted({*configured, *self.seen()})

    @property
    def every_region(self) -> RedisRateLimiter:
        """The limiter without a Region: its budget is the override for every Region (for
        a display before any Region is known; no call takes permits from it)."""
        return self._every_region

    def campaign_share(self, category: Category, campaign_id: str) -> tuple[float, float] | None:
        """``(calls/s, fraction of the bulk rate)`` of ``campaign_id`` now, in whichever
        Region it takes permits (every Region seen, and the limiter without a Region);
        None while it takes none.

        Raises:
            redis.RedisError: Redis cannot be reached.
        """
        seen = self._redis.smembers(self.every_region.regions_key(category))
        regions = sorted(r.decode() if isinstance(r, bytes) else str(r) for r in seen)
        limiters = [self.every_region, *(self.for_region(r) for r in regions)]
        pipe = self._redis.pipeline(transaction=False)  # one round trip for every Region
        for limiter in limiters:
            limiter.queue_campaign_shares(category, pipe)
        for answer in pipe.execute():
            found = share_of(parse_shares(answer), campaign_id)
            if found is not None:
                return found
        return None

    def queue_campaign_share(
        self, category: Category, campaign_id: str, pipe: Any
    ) -> Callable[[Sequence[Any]], tuple[float, float] | None]:
        """Queue on ``pipe`` (a MULTI the caller runs with its own reads) what
        :meth:`campaign_share` reads, for the Regions this process has seen; returns the
        reader of the replies that follow the caller's own (``SMEMBERS``, then one
        ``SHARES`` answer per Region). A Region new to this process costs one more round
        trip, once. The scripts go as bare EVALSHA: the caller retries once after
        :meth:`load_scripts` on ``redis.exceptions.NoScriptError``.
        """
        with self._lock:
            regions = sorted(self._share_regions)
        limiters = [self.every_region, *(self.for_region(r) for r in regions)]
        pipe.smembers(self.every_region.regions_key(category))
        for limiter in limiters:
            limiter.queue_campaign_shares(category, pipe, raw=True)

        def read(replies: Sequence[Any]) -> tuple[float, float] | None:
            seen = {r.decode() if isinstance(r, bytes) else str(r) for r in replies[0]}
            for answer in replies[1 : 1 + len(limiters)]:
                found = share_of(parse_shares(answer), campaign_id)
                if found is not None:
                    return found
            if seen - set(regions):  # Regions this process had not seen: read them all
                with self._lock:
                    self._share_regions |= seen
                return self.campaign_share(category, campaign_id)
            return None

        return read

    def load_scripts(self) -> None:
        """Load every known limiter's scripts into Redis (after a NOSCRIPT)."""
        self.every_region.load_scripts()

    def set_every_region_budget(self, category: Category, per_second: float | None) -> None:
        """Budget (calls/s) of every Region without an override of its own; None drops it.

        Raises:
            ValueError: ``per_second`` is not a finite number above 0.
            redis.RedisError: Redis cannot be reached.
        """
        self._every_region.set_default_budget(category, per_second)
