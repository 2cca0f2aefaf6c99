"""The per-process runtime: settings, Redis, the Cognito gateway, limiter, guard, store.

Built lazily on first use and rebuilt after a fork (``worker_process_init``), so each
worker process has one boto3 client and one Redis pool, shared by its threads (boto3
clients and redis-py pools are thread-safe; sessions are not shared across processes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import redis

from worker.broker.clients import redis_client
from worker.broker.replicas import replica_wait
from worker.cognito import CognitoGateway
from worker.dedupe import Deduper
from worker.guard import UserGuard
from worker.identity.clients import ClientRegistry, pool_region_or_none
from worker.identity.tokens import TokenVerifier
from worker.liveness.heartbeat import Heartbeat
from worker.process import process_settings
from worker.ratelimit import RateLimiter, RegionalLimiters, make_regional_limiters
from worker.sealing import Sealer
from worker.settings import Settings
from worker.status import StatusStore

__all__ = ["Runtime", "get_runtime", "reset_runtime", "set_runtime", "set_worker_threads"]


@dataclass
class Runtime:
    """What one process needs to run jobs; every piece is made once and shared."""

    settings: Settings
    redis: redis.Redis
    gateway: CognitoGateway
    limiters: RegionalLimiters
    guard: UserGuard
    statuses: StatusStore

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Connect everything ``settings`` describes (no network traffic yet)."""
        # On the current primary (Sentinel or one endpoint); an unreachable Redis answers
        # BrokerUnavailable within COURIER_REDIS_CONNECT_TIMEOUT_SECONDS (worker.broker.door).
        client = redis_client(settings)
        return cls(
            settings=settings,
            redis=client,
            gateway=CognitoGateway.from_settings(settings, threads=_worker_threads),
            limiters=make_regional_limiters(settings, client),
            # With a seal key, user keys are HMACs under it: no guessable e-mail hashes.
            guard=UserGuard(
                client, cap_per_hour=settings.user_hourly_cap, secret=_hash_secret(settings)
            ),
            statuses=StatusStore(
                client,
                ttl_seconds=settings.status_ttl_seconds,
                replicas=replica_wait(client, min_replicas=settings.redis_min_replicas),
            ),
        )

    def limiter_for(self, region: str) -> RateLimiter:
        """The limiter holding ``region``'s budgets (:mod:`worker.ratelimit.regional`)."""
        return self.limiters.for_region(region)

    def limiter_for_pool(self, user_pool_id: str | None) -> RateLimiter:
        """The limiter of the pool's Region (its id's prefix), else the default Region's."""
        return self.limiter_for(pool_region_or_none(user_pool_id) or self.gateway.regions.default)

    def limiter_for_client(self, client_id: str) -> RateLimiter:
        """The limiter of the client's Region, for producers' estimates: without a known
        pool, COURIER_COGNITO_REGION or AWS_REGION, the budget for every Region (it reads no
        AWS profile, which only workers may)."""
        settings = self.settings
        region = self.clients.region_for(client_id) or settings.aws_region
        if region is None:
            return self.limiters.every_region
        return self.limiter_for(region)

    @property
    def clients(self) -> ClientRegistry:
        """The client registry (COURIER_CLIENTS, COURIER_CLIENT_SECRETS)."""
        return self.settings.client_registry

    @cached_property
    def heartbeat(self) -> Heartbeat:
        """This process's heartbeat: renews the leases of the work it holds."""
        return Heartbeat(self.redis, period_seconds=self.settings.heartbeat_seconds)

    @cached_property
    def deduper(self) -> Deduper:
        """Idempotency keys and coalescing of identical requests (:mod:`worker.dedupe`)."""
        settings = self.settings
        return Deduper(
            self.redis,
            secret=_hash_secret(settings),
            idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
            coalesce_ttl_seconds=settings.visibility_timeout_seconds,
            coalesce_succeeded_seconds=settings.coalesce_succeeded_seconds,
        )

    @cached_property
    def tokens(self) -> TokenVerifier:
        """AccessToken verification against each pool's JWKS (:mod:`worker.identity.tokens`)."""
        settings = self.settings
        return TokenVerifier(
            self.clients,
            endpoint_url=settings.cognito_endpoint_url,
            timeout_seconds=settings.connect_timeout_seconds,
        )

    @cached_property
    def sealer(self) -> Sealer:
        """The sealer for secrets; raises ConfigurationError when no key is set."""
        return Sealer.from_settings(self.settings)


def _hash_secret(settings: Settings) -> bytes | None:
    """The key of the HMACs that hide user keys and idempotency keys in Redis (the seal key)."""
    return settings.seal_key.get_secret_value().encode() if settings.seal_key is not None else None


_lock = threading.Lock()
_runtime: Runtime | None = None
_worker_threads: int | None = None


def set_worker_threads(threads: int) -> None:
    """Record the worker's real thread count (``-c``), before any runtime is built.

    Called from Celery's ``worker_init`` signal; sizes each boto3 client's connection pool.
    """
    global _worker_threads  # noqa: PLW0603 - one worker per process
    _worker_threads = threads


def get_runtime() -> Runtime:
    """This process's runtime, built on first use from the process's settings (those the
    app was configured with: :func:`worker.process.process_settings`)."""
    global _runtime  # noqa: PLW0603 - one runtime per process, by design
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime.from_settings(process_settings())
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install ``runtime`` for this process (tests, the demo); None forgets it."""
    global _runtime  # noqa: PLW0603
    with _lock:
        _runtime = runtime


def reset_runtime() -> None:
    """Forget the runtime (after a fork), so the next use builds fresh clients."""
    set_runtime(None)
