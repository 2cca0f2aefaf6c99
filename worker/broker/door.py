"""Redis at the door: a clear error when it is unreachable, a refusal when it may evict.

Producers (the Python API, every CLI command, the HTTP front) and workers share one Redis
(DESIGN.md). Two things are checked here:

* **Reachability.** :func:`at_the_door` turns the connection failures of redis-py
  (``ConnectionError``, ``TimeoutError``) and of kombu (``OperationalError``, raised when a
  publish cannot reach the broker) into one :class:`~worker.errors.BrokerUnavailable`
  naming the URL with its password masked. The runtime's client gives up connecting after
  ``COURIER_REDIS_CONNECT_TIMEOUT_SECONDS`` (3 s by default), so an unreachable Redis
  answers within seconds, not after the operating system's TCP timeout.
* **Eviction.** An evicting Redis (any ``maxmemory-policy`` but ``noeviction``) drops keys
  that carry a TTL first: job status documents, limiter and guard state (with
  ``volatile-lru``, ElastiCache's default, 19 of 20 queued jobs lost their status).
  :func:`check_eviction_policy` asks ``CONFIG GET maxmemory-policy``; managed services that
  refuse CONFIG (ElastiCache renames it, some proxies forbid it) are asked ``INFO memory``,
  whose ``maxmemory_policy`` field holds the same value (Redis documentation, INFO). When
  neither answers, the policy is unknown and treated like an evicting one: refused unless
  ``COURIER_REDIS_ALLOW_EVICTION=true``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import redis
from kombu.exceptions import OperationalError

from worker.errors import BrokerUnavailable, EvictingRedisError
from worker.observe.redact import mask_url, mask_urls_in
from worker.settings import Settings

__all__ = [
    "CONNECTION_ERRORS",
    "at_the_door",
    "check_eviction_policy",
    "eviction_policy",
    "unavailable",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OperationalError,
)
"""What "Redis cannot be reached" looks like from redis-py and from kombu (publishing)."""


def unavailable(url: str, exc: BaseException) -> BrokerUnavailable:
    """The :class:`BrokerUnavailable` for ``exc`` met while talking to the Redis at ``url``."""
    # redis-py's messages name host and port, never the password; kombu's may carry the URL.
    reason = mask_urls_in(str(exc).strip() or type(exc).__name__)
    return BrokerUnavailable(
        f"Redis at {mask_url(url)} is unreachable: {reason}", url=mask_url(url)
    )


def eviction_policy(client: redis.Redis) -> str | None:
    """The server's ``maxmemory-policy``, or None when the server will not say.

    ``CONFIG GET`` first; when CONFIG is unknown (renamed) or forbidden (ACL), the
    ``maxmemory_policy`` field of ``INFO memory``.

    Raises:
        redis.ConnectionError, redis.TimeoutError: Redis cannot be reached.
    """
    try:
        answer = client.config_get("maxmemory-policy")
        value = answer.get("maxmemory-policy") if isinstance(answer, dict) else None
        if value:
            return _text(value)
    except redis.ResponseError as exc:  # unknown command, NOPERM, ...
        log.debug("CONFIG GET maxmemory-policy refused (%s); asking INFO memory", exc)
    try:
        info = client.info("memory")
    except redis.ResponseError as exc:
        log.debug("INFO memory refused (%s)", exc)
        return None
    value = info.get("maxmemory_policy") if isinstance(info, dict) else None
    return _text(value) if value else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_eviction_policy(client: redis.Redis, settings: Settings, *, role: str) -> str | None:
    """Refuse a Redis that may evict keys; returns the policy found (None: unknown).

    ``role`` names who asks ("worker", "HTTP front", "producer") in the messages. With
    ``COURIER_REDIS_ALLOW_EVICTION=true`` an evicting or unknown policy is accepted and a
    WARNING is logged, on every start.

    Raises:
        EvictingRedisError: the policy is not ``noeviction`` (or cannot be read) and
            eviction is not allowed; the message names the setting and both fixes.
        BrokerUnavailable: Redis cannot be reached.
    """
    try:
        policy = eviction_policy(client)
    except CONNECTION_ERRORS as exc:
        raise unavailable(settings.redis_url, exc) from exc
    if policy == "noeviction":
        return policy
    where = mask_url(settings.redis_url)
    found = f"maxmemory-policy is {policy}" if policy else "maxmemory-policy cannot be read"
    if settings.redis_allow_eviction:
        log.warning(
            "%s: the Redis at %s may evict keys (%s); job status documents, limiter and "
            "guard state can vanish (COURIER_REDIS_ALLOW_EVICTION=true accepts that risk)",
            role,
            where,
            found,
        )
        return policy
    raise EvictingRedisError(
        f"{role}: the Redis at {where} may evict keys ({found}); cognito-courier needs "
        "maxmemory-policy noeviction, or it loses queued jobs and their status. Fix: "
        "`CONFIG SET maxmemory-policy noeviction` (or the parameter group / redis.conf), or "
        "set COURIER_REDIS_ALLOW_EVICTION=true to accept the risk"
    )


_checked_urls: set[str] = set()
_checked_lock = threading.Lock()


def at_the_door(function: Callable[P, R]) -> Callable[P, R]:
    """Decorate a producer entry point (the Python API in :mod:`tasks`).

    The first call in a process checks the runtime's Redis with
    :func:`check_eviction_policy` (role "producer"); every call turns Redis connection
    failures into :class:`BrokerUnavailable`. Raises what the function raises, plus
    EvictingRedisError and BrokerUnavailable.
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from worker.runtime import get_runtime  # noqa: PLC0415 - built on first use

        runtime = get_runtime()
        url = runtime.settings.redis_url
        try:
            if url not in _checked_urls:
                check_eviction_policy(runtime.redis, runtime.settings, role="producer")
                with _checked_lock:
                    _checked_urls.add(url)
            return function(*args, **kwargs)
        except CONNECTION_ERRORS as exc:
            raise unavailable(url, exc) from exc

    return wrapper
