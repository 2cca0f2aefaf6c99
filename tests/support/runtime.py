"""Test-side views of the runtime that production code has no use for.

Production resolves a limiter per call from the job's client or pool
(:meth:`worker.runtime.Runtime.limiter_for_pool`), lists Regions for display from the
limiters (:meth:`worker.ratelimit.RegionalLimiters.known`) and reads a job's state through
its status document; these helpers give tests the shortcuts they used to find on the
production classes.
"""

from __future__ import annotations

import dataclasses
from typing import cast

from redis import Redis

from worker.cognito import CognitoGateway
from worker.ratelimit import (
    LimiterConfig,
    RateLimiter,
    RedisRateLimiter,
    RegionalLimiters,
)
from worker.runtime import Runtime
from worker.status import TERMINAL_STATES, StatusStore, job_key

__all__ = [
    "OneLimiterForEveryRegion",
    "client_regions",
    "default_limiter",
    "is_terminal",
    "with_one_limiter",
]


def default_limiter(runtime: Runtime) -> RateLimiter:
    """The default Region's limiter (may read the AWS configuration, as a worker does)."""
    return runtime.limiter_for(runtime.gateway.regions.default)


def client_regions(gateway: CognitoGateway) -> list[str]:
    """The Regions ``gateway`` has made a boto3 client for so far; sorted."""
    return sorted({region for region, _ in gateway._by_region})


def is_terminal(statuses: StatusStore, job_id: str) -> bool:
    """True when job ``job_id`` exists and has reached a terminal state."""
    state = cast("bytes | None", statuses.redis.hget(job_key(job_id), "state"))
    return state is not None and state.decode() in TERMINAL_STATES


class OneLimiterForEveryRegion(RegionalLimiters):
    """Regional limiters that hand out one given limiter for every Region (a stub's grants
    observed by a test, whatever Region a call goes to)."""

    def __init__(self, limiter: RateLimiter, redis: Redis, config: LimiterConfig) -> None:
        super().__init__(redis, config)
        # typed as the Redis limiter the runtime expects; a test only takes permits from it
        self._one = cast("RedisRateLimiter", limiter)

    def for_region(self, region: str) -> RedisRateLimiter:
        """``limiter``, whatever ``region``."""
        return self._one

    @property
    def every_region(self) -> RedisRateLimiter:
        """``limiter`` again."""
        return self._one


def with_one_limiter(runtime: Runtime, limiter: RateLimiter, **changes: object) -> Runtime:
    """A copy of ``runtime`` whose every Region takes its permits from ``limiter``."""
    limiters = OneLimiterForEveryRegion(limiter, runtime.redis, runtime.limiters.config)
    return dataclasses.replace(runtime, limiters=limiters, **changes)  # type: ignore[arg-type]
