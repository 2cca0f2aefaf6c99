"""Redis at the door: a clear error for every wrong URL, a refusal when it may evict.

Producers (the Python API, every CLI command, the HTTP front) and workers share one Redis
(DESIGN.md). Three things are checked here:

* **Reachability.** :func:`at_the_door` turns what redis-py and kombu raise when the URL
  leads nowhere useful into one :class:`~worker.errors.BrokerUnavailable` naming the URL
  with its password masked (:data:`CONNECTION_ERRORS`): a closed port, a missing unix
  socket, a server that is not Redis (an HTTP server answers ``HTTP/1.1 ...``, which
  redis-py reports as ``InvalidResponse: Protocol error``), a TLS port spoken to in clear
  (the server resets the connection) and a plain port spoken to in TLS (no handshake ever
  answers). :func:`unavailable` adds what the symptom usually means. The runtime's
  client (:func:`worker.broker.clients.redis_client`) spends at most
  ``COURIER_REDIS_CONNECT_TIMEOUT_SECONDS`` (3 s by default) on connecting, on the TLS
  handshake and on the first exchange (HELLO, AUTH, SELECT), so each of these answers
  within that time, not after the read timeout.
* **The database.** ``redis://host/99`` on a server with 16 databases answers
  ``ERR DB index is out of range`` to SELECT: a :class:`~worker.errors.ConfigurationError`
  saying so (exit status 2), not an eviction refusal.
* **Eviction.** An evicting Redis (any ``maxmemory-policy`` but ``noeviction``) drops keys
  that carry a TTL first: job status documents, limiter and guard state (with
  ``volatile-lru``, ElastiCache's default, 19 of 20 queued jobs lost their status).
  :func:`check_eviction_policy` asks ``CONFIG GET maxmemory-policy``; managed services that
  refuse CONFIG (ElastiCache renames it, ACL users lack ``+config|get``) are asked
  ``INFO memory``, whose ``maxmemory_policy`` field holds the same value (Redis
  documentation, INFO and ACL). An ACL user without both (``~* &* +@all -@dangerous``,
  common on managed Redis: CONFIG and INFO are in the ``@dangerous`` category) cannot read
  the policy: ``COURIER_REDIS_MAXMEMORY_POLICY=noeviction`` declares it. The check still
  runs wherever it can, and a policy read that contradicts the declaration still refuses.
  An unknown, undeclared policy is refused unless ``COURIER_REDIS_ALLOW_EVICTION=true``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import redis
from kombu.exceptions import OperationalError

from worker.broker.clients import outage_cause
from worker.errors import (
    BrokerUnavailable,
    ConfigurationError,
    EvictingRedisError,
    RedisFullError,
)
from worker.observe.redact import mask_url, mask_urls_in
from worker.settings import Settings

__all__ = [
    "CONNECTION_ERRORS",
    "PolicyReading",
    "at_the_door",
    "check_eviction_policy",
    "eviction_policy",
    "read_policy",
    "unavailable",
]

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    # A reply that is not RESP: something other than Redis answers on that port.
    redis.exceptions.InvalidResponse,
    OperationalError,
)
"""What "Redis cannot be reached" looks like from redis-py and from kombu (publishing)."""

_DB_OUT_OF_RANGE = "DB index is out of range"


def unavailable(url: str, exc: BaseException) -> BrokerUnavailable:
    """The :class:`BrokerUnavailable` for ``exc`` met while talking to the Redis at ``url``.

    The message is ``Redis at <masked url> is unreachable: <what redis-py said>``, then,
    when the symptom has a usual cause (not Redis, TLS spoken to a plain port or the
    reverse), that cause.
    """
    # redis-py's messages name host and port, never the password; kombu's may carry the URL.
    reason = mask_urls_in(str(exc).strip() or type(exc).__name__)
    if outage_cause(exc) is RedisFullError:  # it answers, but refuses writes: say so
        return BrokerUnavailable(
            f"Redis is full (maxmemory): the Redis at {mask_url(url)} refuses writes until "
            "memory is freed or maxmemory is raised (maxmemory-policy noeviction)",
            url=mask_url(url),
        )
    hint = _hint(url, exc)
    return BrokerUnavailable(
        f"Redis at {mask_url(url)} is unreachable: {reason}{hint}", url=mask_url(url)
    )


def _hint(url: str, exc: BaseException) -> str:
    text = str(exc).lower()
    tls = url.lower().startswith(("rediss://", "sentinels://"))
    if isinstance(exc, redis.exceptions.InvalidResponse):
        return (
            " (the server on that port does not speak the Redis protocol: is "
            "COURIER_REDIS_URL pointing at another service, such as an HTTP server?)"
        )
    if tls and ("ssl" in text or "timeout" in text or "closed" in text):
        return (
            " (no TLS handshake: is that a plain-text port? rediss:// speaks TLS, redis:// "
            "does not)"
        )
    if not tls and ("reset by peer" in text or "closed by server" in text):
        return (
            " (the server closed the connection at once, as a TLS-only port does to a "
            "client speaking in clear: use rediss:// for a TLS port)"
        )
    return ""


# --- the eviction policy ------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyReading:
    """What the server said about its ``maxmemory-policy``.

    ``policy`` is None when neither CONFIG GET nor INFO memory answered it; ``refusals``
    holds each refusal as the server worded it (``NOPERM ...``, ``unknown command``).
    """

    policy: str | None
    refusals: tuple[str, ...] = ()

    @property
    def forbidden(self) -> bool:
        """True when an ACL refused a read (``NOPERM``), rather than a renamed command."""
        return any(": NOPERM " in refusal for refusal in self.refusals)


def read_policy(client: redis.Redis) -> PolicyReading:
    """Ask ``CONFIG GET maxmemory-policy``, then ``INFO memory``; what each answered.

    Raises:
        ConfigurationError: the URL's database does not exist (``DB index is out of range``).
        redis.ConnectionError, redis.TimeoutError, redis.exceptions.InvalidResponse:
            Redis cannot be reached (or what answers is not Redis).
    """
    refusals: list[str] = []
    try:
        answer = client.config_get("maxmemory-policy")
        value = answer.get("maxmemory-policy") if isinstance(answer, dict) else None
        if value:
            return PolicyReading(_text(value))
    except redis.ResponseError as exc:  # unknown command, NOPERM, ...
        _check_database(client, exc)
        refusals.append(_refusal("CONFIG GET", exc))
        log.debug("CONFIG GET maxmemory-policy refused (%s); asking INFO memory", exc)
    try:
        info = client.info("memory")
    except redis.ResponseError as exc:
        _check_database(client, exc)
        refusals.append(_refusal("INFO", exc))
        log.debug("INFO memory refused (%s)", exc)
        return PolicyReading(None, tuple(refusals))
    value = info.get("maxmemory_policy") if isinstance(info, dict) else None
    return PolicyReading(_text(value) if value else None, tuple(refusals))


def _refusal(command: str, exc: redis.ResponseError) -> str:
    # redis-py strips the error code off NOPERM answers (NoPermissionError): put it back.
    code = "NOPERM " if isinstance(exc, redis.exceptions.NoPermissionError) else ""
    return f"{command}: {code}{exc}"


def _check_database(client: redis.Redis, exc: redis.ResponseError) -> None:
    if _DB_OUT_OF_RANGE.lower() in str(exc).lower():
        db = client.connection_pool.connection_kwargs.get("db", "?")
        raise ConfigurationError(
            f"COURIER_REDIS_URL: DB index is out of range: the server has no database {db} "
            "(the number after the host must be below the server's `databases` setting, "
            "16 by default)"
        ) from None


def eviction_policy(client: redis.Redis) -> str | None:
    """The server's ``maxmemory-policy``, or None when the server will not say.

    ``CONFIG GET`` first; when CONFIG is unknown (renamed) or forbidden (ACL), the
    ``maxmemory_policy`` field of ``INFO memory``.

    Raises:
        ConfigurationError: the URL's database does not exist.
        redis.ConnectionError, redis.TimeoutError: Redis cannot be reached.
    """
    return read_policy(client).policy


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_eviction_policy(client: redis.Redis, settings: Settings, *, role: str) -> str | None:
    """Refuse a Redis that may evict keys; returns the policy found (None: unknown).

    ``role`` names who asks ("worker", "HTTP front", "producer") in the messages. A policy
    the server will not tell is accepted when COURIER_REDIS_MAXMEMORY_POLICY declares
    ``noeviction``; a policy read that differs from the declaration is refused all the
    same. With ``COURIER_REDIS_ALLOW_EVICTION=true`` an evicting or unknown policy is
    accepted and a WARNING is logged, on every start.

    Raises:
        EvictingRedisError: the policy is not ``noeviction`` (or cannot be read and is not
            declared) and eviction is not allowed; the message names the setting and the
            ways out (for an ACL user: NOPERM, ``+config|get`` or ``+info``, the declaration).
        ConfigurationError: the URL's database does not exist.
        BrokerUnavailable: Redis cannot be reached.
    """
    try:
        reading = read_policy(client)
    except CONNECTION_ERRORS as exc:
        raise unavailable(settings.redis_url, exc) from exc
    policy, declared = reading.policy, settings.redis_maxmemory_policy
    if policy == "noeviction" or (policy is None and declared == "noeviction"):
        return policy
    where = mask_url(settings.redis_url)
    if policy is not None:
        found = f"maxmemory-policy is {policy}"
        if declared is not None:
            found += f", although COURIER_REDIS_MAXMEMORY_POLICY declares {declared}"
    else:
        found = "maxmemory-policy cannot be read: " + "; ".join(reading.refusals or ("no answer",))
    if settings.redis_allow_eviction:
        log.warning(
            "%s: the Redis at %s may evict keys (%s); job status documents, limiter and "
            "guard state can vanish (COURIER_REDIS_ALLOW_EVICTION=true accepts that risk)",
            role,
            where,
            found,
        )
        return policy
    if policy is None and reading.forbidden:
        raise EvictingRedisError(
            f"{role}: the Redis at {where} will not tell its maxmemory-policy to this user "
            f"({found}); cognito-courier needs maxmemory-policy noeviction, or it loses "
            "queued jobs and their status. Either grant the ACL user `+config|get` or "
            "`+info` (e.g. `ACL SETUSER <user> +config|get`), or, once you have checked the "
            "policy is noeviction, declare it with COURIER_REDIS_MAXMEMORY_POLICY=noeviction"
        )
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
