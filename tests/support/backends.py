"""Backends for the limiter and guard tests: one test body, several backends (dramatiq style).

``stub`` is the in-process double on the real clock, ``fakeredis`` the Redis backend on
fakeredis[lua], ``redis`` the Redis backend on the real server at COURIER_TEST_REDIS_URL
(the session's private server, set by the top-level conftest), ``redis-region`` the same
server through one Region's limiter (:class:`RegionalLimiters`), so every guarantee is
shown to hold per Region. Like the top-level conftest, the fixtures delete every
``courier:*`` key before and after each test rather than FLUSHDB, so a session-wide Celery
worker sharing that database keeps its bindings.

The fixtures ``backend`` and ``real_redis`` are registered for every test folder by the
top-level conftest (``pytest_plugins``); the limiter's tests (tests/ratelimit/) and the
guard's (tests/guard/) take them from there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import pytest
import redis

from worker.guard import PerUserGuard, StubUserGuard, UserGuard
from worker.ratelimit import (
    Category,
    GrantObserver,
    LimiterConfig,
    RateLimiter,
    RedisRateLimiter,
    RegionalLimiters,
    StubRateLimiter,
)

REDIS_URL = os.environ["COURIER_TEST_REDIS_URL"]
BACKENDS = ["stub", "fakeredis", "redis", "redis-region"]
REGION = "eu-west-1"


def make_config(
    budget: float = 20.0,
    *,
    bulk_share: float = 1.0,
    floor_per_second: float = 1.0,
    decrease_factor: float = 0.5,
    recovery_seconds: float = 30.0,
    cooldown_seconds: float = 1.0,
    userlist_budget: float = 10.0,
) -> LimiterConfig:
    """A limiter configuration with UserResourceRead at ``budget`` calls/s."""
    return LimiterConfig(
        budgets={Category.USER_RESOURCE_READ: budget, Category.USER_LIST: userlist_budget},
        bulk_shares={Category.USER_RESOURCE_READ: bulk_share},
        floor_per_second=floor_per_second,
        decrease_factor=decrease_factor,
        recovery_seconds=recovery_seconds,
        throttle_cooldown_seconds=cooldown_seconds,
    )


def _clear(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match="courier:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def real_redis() -> Iterator[redis.Redis]:
    """A client on the real test Redis, every ``courier:*`` key deleted before and after."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        client.close()
        pytest.skip(f"no Redis at {REDIS_URL} ({exc})")
    _clear(client)
    yield client
    _clear(client)
    client.close()


@dataclass
class Backend:
    """Builds limiters and guards that share one store (one Redis, or one stub)."""

    name: str
    factory: Callable[[], Any] | None  # a new Redis client on the shared store; None: stub
    clients: list[Any] = field(default_factory=list)
    region: str | None = None  # the limiters are one Region's (RegionalLimiters)

    def client(self) -> Any:
        """A new Redis client on the shared store, closed at teardown."""
        assert self.factory is not None
        client = self.factory()
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def limiter(self, config: LimiterConfig, *, on_grant: GrantObserver | None = None) -> Any:
        if self.factory is None:
            return StubRateLimiter(config, on_grant=on_grant)
        if self.region is not None:
            return RegionalLimiters(self.client(), config, on_grant=on_grant).for_region(
                self.region
            )
        return RedisRateLimiter(self.client(), config, on_grant=on_grant)

    def peer(self, limiter: RateLimiter) -> RateLimiter:
        """Another client of the same limiter state (another worker, for Redis)."""
        if isinstance(limiter, StubRateLimiter):
            return limiter
        assert isinstance(limiter, RedisRateLimiter)
        if self.region is not None:
            return RegionalLimiters(self.client(), limiter.config).for_region(self.region)
        return RedisRateLimiter(self.client(), limiter.config)

    def guard(self, *, cap_per_hour: int = 5, window_seconds: float = 3600.0) -> PerUserGuard:
        if self.factory is None:
            return StubUserGuard(cap_per_hour=cap_per_hour, window_seconds=window_seconds)
        return UserGuard(self.client(), cap_per_hour=cap_per_hour, window_seconds=window_seconds)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each test body once per backend."""
    if request.param == "stub":
        made = Backend("stub", None)
    elif request.param == "fakeredis":
        server = fakeredis.FakeServer()
        made = Backend("fakeredis", lambda: fakeredis.FakeRedis(server=server))
    else:
        request.getfixturevalue("real_redis")
        region = REGION if request.param == "redis-region" else None
        made = Backend(request.param, lambda: redis.Redis.from_url(REDIS_URL), region=region)
    yield made
    made.close()
