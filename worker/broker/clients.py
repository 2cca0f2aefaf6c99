"""The one factory of redis-py clients: every Redis user in the project takes its client here.

:func:`redis_client` reads a :class:`~worker.broker.urls.RedisTarget` (COURIER_REDIS_URL,
parsed once) and returns a :class:`redis.Redis` on the current primary:

* one endpoint (``redis://``, ``rediss://``, ``unix://``): a pool on that address. A new
  connection resolves the host name again, so a managed Redis whose DNS name moved to the
  new primary is found by the next connection;
* Sentinel (``sentinel://``, ``sentinels://``): redis-py's
  :class:`redis.sentinel.Sentinel` and its ``master_for`` pool, which asks the sentinels
  for the primary's address at every new connection and drops connections to an old one.

Its connections turn the server's answers that mean "this is not the primary (any more)"
or "Redis is full" into outages (:class:`~worker.errors.RedisFailoverError`,
:class:`~worker.errors.RedisFullError`, both ``redis.ConnectionError``), so that every
user already built for an outage (the heartbeat, :func:`~worker.liveness.heartbeat.patiently`,
kombu and Celery's consumer) pauses and reconnects instead of failing:

==================================================  ==========================  =========
server reply (Redis documentation, error replies)   raised                      connection
==================================================  ==========================  =========
``READONLY You can't write against a read only      RedisFailoverError          dropped
replica``
``UNBLOCKED force unblock ...`` (a BRPOP on a       RedisFailoverError          dropped
primary that became a replica)
``MASTERDOWN Link with MASTER is down``             RedisFailoverError          dropped
``LOADING`` (redis-py's BusyLoadingError)           unchanged (already one)     dropped
``OOM command not allowed when used memory >        RedisFullError              dropped
'maxmemory'``
==================================================  ==========================  =========

The connection is dropped for a full Redis too: a pipeline or MULTI whose first reply is an
OOM would otherwise go back to the pool with its other replies unread, and the next command
on it would read them (EXECABORT, then a stale OOM, where a probe expected OK).

redis-py retries connection errors (3 times, jittered backoff) before raising them; a
:class:`RedisFullError` is raised at once instead: Redis answered, and a full Redis does
not empty within a retry's backoff.

Its clients and pipelines are :mod:`worker.broker.safe_client`'s: a pipeline's Lua scripts
are loaded on the server that runs it, and a command cut short by anything other than
Redis (a ``KeyboardInterrupt`` from Ctrl-C or SIGTERM) drops its connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import MasterDownError, OutOfMemoryError, ReadOnlyError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection, SentinelManagedSSLConnection

from worker.broker.safe_client import ScriptSafeRedis, SignalSafePacking, drop_if_abandoned
from worker.broker.urls import RedisTarget
from worker.errors import RedisFailoverError, RedisFullError, RedisOutageError
from worker.settings import Settings

__all__ = [
    "ConnectTimeout",
    "PrimaryConnection",
    "PrimarySSLConnection",
    "PrimarySentinelConnection",
    "PrimarySentinelSSLConnection",
    "PrimaryUnixConnection",
    "WRITE_PROBE_KEY",
    "accepts_writes",
    "client_for",
    "outage_cause",
    "outage_for",
    "probe_write",
    "redis_client",
]

T = TypeVar("T")

WRITE_PROBE_KEY = "courier:writable"
"""The key :func:`probe_write` sets (10 s TTL): "Redis is back" means it took a write."""

_RETRIES = 3
"""redis-py's own default: connection errors retried 3 times before they are raised."""


def outage_for(exc: redis.ResponseError) -> redis.ConnectionError | None:
    """The outage a server error reply means, or None when it is an ordinary error.

    See the module's table. The message names the server's reply code, never a key.
    """
    text = str(exc)
    if isinstance(exc, ReadOnlyError):
        return RedisFailoverError(f"READONLY: the server became a replica ({text[:80]})")
    if text.startswith("UNBLOCKED"):
        return RedisFailoverError(f"UNBLOCKED: the server's role changed ({text[:80]})")
    if isinstance(exc, MasterDownError) or text.startswith("MASTERDOWN"):
        return RedisFailoverError(f"MASTERDOWN: a replica without its primary ({text[:80]})")
    if isinstance(exc, OutOfMemoryError):
        return RedisFullError("Redis is full (maxmemory): it refuses writes (OOM)")
    return None


def outage_cause(exc: BaseException | None) -> type[RedisOutageError] | None:
    """The :class:`RedisOutageError` class behind ``exc`` (itself or what caused it: kombu
    wraps publish errors), or None for an ordinary outage (Redis not answering)."""
    for _ in range(5):
        if exc is None:
            return None
        if isinstance(exc, RedisOutageError):
            return type(exc)
        exc = exc.__cause__ or exc.__context__
    return None


def probe_write(client: redis.Redis) -> None:
    """Write one small key (``SET courier:writable 1 PX 10000``): PING answers on a replica
    and on a full Redis, a write only on a primary with memory to spare.

    Raises:
        redis.RedisError: the write was refused (RedisFailoverError, RedisFullError) or
            Redis cannot be reached.
    """
    client.set(WRITE_PROBE_KEY, b"1", px=10_000)


def accepts_writes(client: redis.Redis) -> bool:
    """True when :func:`probe_write` succeeds; False for any Redis error."""
    try:
        probe_write(client)
    except redis.RedisError:
        return False
    return True


class _PrimaryOnly:
    """Mixin for redis-py connections: failover and full-Redis replies become outages."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except redis.InvalidResponse:
            # a stream that does not parse: never reuse it. redis-py drops it itself except
            # on a Sentinel-managed connection, which reads with disconnect_on_error=False.
            self.disconnect()  # type: ignore[attr-defined]
            raise
        except redis.ResponseError as exc:
            outage = outage_for(exc)
            if outage is None:
                raise
            # Drop the connection for every outage: the next one finds the primary after a
            # failover, and a pipeline or MULTI cut short here leaves its other replies
            # unread on the socket (redis-py returns the connection to the pool as it is):
            # the next command would read them (seen: EXECABORT, then a stale OOM).
            self.disconnect()  # type: ignore[attr-defined]
            raise outage from None


class _BoundedHandshake:
    """Mixin for redis-py connections: the TLS handshake and first exchange take at most
    the connect timeout.

    redis-py bounds only the TCP connect by ``socket_connect_timeout``; the TLS handshake
    and HELLO/AUTH/SELECT are read with ``socket_timeout`` (redis-py's ``connection.py``),
    None here. A server that accepts and then says nothing (a plain port asked for TLS, a
    stuck process) would hold a producer forever instead of answering BrokerUnavailable
    within COURIER_REDIS_CONNECT_TIMEOUT_SECONDS (worker.broker.door).
    """

    socket_timeout: float | None
    socket_connect_timeout: float | None
    _sock: Any

    def _connect(self) -> Any:
        read_timeout = self.socket_timeout
        self.socket_timeout = self.socket_connect_timeout  # set on the socket once connected
        try:
            return super()._connect()  # type: ignore[misc]
        except TimeoutError:  # socket.timeout: the TCP connect or the TLS handshake
            raise ConnectTimeout(
                f"Timeout connecting to server (no answer within {self._bound()})"
            ) from None
        finally:
            self.socket_timeout = read_timeout

    def on_connect_check_health(self, check_health: bool = True) -> None:
        try:
            super().on_connect_check_health(check_health=check_health)  # type: ignore[misc]
        except redis.TimeoutError:
            raise ConnectTimeout(
                "Timeout connecting to server (it accepted the connection, then said nothing "
                f"within {self._bound()})"
            ) from None
        except BaseException as exc:
            # A handshake cut short by a signal (KeyboardInterrupt) between HELLO/AUTH/
            # CLIENT SETINFO/SELECT and their replies: redis-py cleans up only after a
            # RedisError, and its pool would take this half-set-up connection back as
            # connected (its replies unread, maybe still on db 0).
            drop_if_abandoned(self, exc)
            raise
        finally:
            if self._sock is not None:
                self._sock.settimeout(self.socket_timeout)

    def _bound(self) -> str:
        return f"{self.socket_connect_timeout:g} s, COURIER_REDIS_CONNECT_TIMEOUT_SECONDS"


class ConnectTimeout(redis.TimeoutError):
    """Raised when connecting (TCP, TLS handshake, HELLO/AUTH/SELECT) took the whole connect
    timeout: not retried, so a wrong URL answers within that timeout, not four times it."""


class PrimaryConnection(_PrimaryOnly, _BoundedHandshake, SignalSafePacking, Connection):
    """A TCP connection (``redis://``) that reports failovers and a full Redis as outages."""


class PrimarySSLConnection(_PrimaryOnly, _BoundedHandshake, SignalSafePacking, SSLConnection):
    """A TLS connection (``rediss://``) that reports failovers and a full Redis as outages."""


class PrimaryUnixConnection(
    _PrimaryOnly, _BoundedHandshake, SignalSafePacking, UnixDomainSocketConnection
):
    """A unix-socket connection that reports failovers and a full Redis as outages."""


class PrimarySentinelConnection(
    _PrimaryOnly, _BoundedHandshake, SignalSafePacking, SentinelManagedConnection
):
    """A Sentinel-managed connection (``sentinel://``) reporting outages the same way."""


class PrimarySentinelSSLConnection(
    _PrimaryOnly, _BoundedHandshake, SignalSafePacking, SentinelManagedSSLConnection
):
    """A Sentinel-managed TLS connection (``sentinels://``) reporting outages the same way."""


class _OutageRetry(Retry):
    """redis-py's retry of connection errors, except a full Redis (raised at once)."""

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Retry ``do`` as redis-py does, but never after a :class:`RedisFullError`."""

        def retryable(error: Exception) -> bool:
            if isinstance(error, RedisFullError | ConnectTimeout):
                return False
            return is_retryable(error) if is_retryable is not None else True

        return super().call_with_retry(
            do, fail, is_retryable=retryable, with_failure_count=with_failure_count
        )


def _retry() -> Retry:
    return _OutageRetry(ExponentialWithJitterBackoff(base=0.1, cap=1.0), _RETRIES)


def redis_client(
    settings: Settings,
    *,
    connect_timeout_seconds: float | None = None,
    socket_timeout_seconds: float | None = None,
    health_check_interval_seconds: int = 30,
    max_connections: int | None = None,
    decode_responses: bool = False,
) -> redis.Redis:
    """The client every Redis user takes: :func:`client_for` on ``settings.redis_target``,
    connecting within COURIER_REDIS_CONNECT_TIMEOUT_SECONDS unless told otherwise."""
    return client_for(
        settings.redis_target,
        connect_timeout_seconds=connect_timeout_seconds or settings.redis_connect_timeout_seconds,
        socket_timeout_seconds=socket_timeout_seconds,
        health_check_interval_seconds=health_check_interval_seconds,
        max_connections=max_connections,
        decode_responses=decode_responses,
    )


def client_for(
    target: RedisTarget,
    *,
    connect_timeout_seconds: float,
    socket_timeout_seconds: float | None = None,
    health_check_interval_seconds: int = 30,
    max_connections: int | None = None,
    decode_responses: bool = False,
) -> redis.Redis:
    """A redis-py client on the current primary of ``target``; no network traffic yet.

    Args:
        target: the parsed COURIER_REDIS_URL (``Settings.redis_target``).
        connect_timeout_seconds: longest connection attempt (COURIER_REDIS_CONNECT_TIMEOUT_SECONDS);
            with Sentinel, to each sentinel and to the primary.
        socket_timeout_seconds: longest wait for a reply (None: no limit, for blocking reads).
        health_check_interval_seconds: an idle connection is PINGed before reuse after this.
        max_connections: the pool's cap (None: redis-py's, 2**31).
        decode_responses: replies as ``str`` instead of ``bytes``.

    Raises nothing itself: connection failures surface on the first command, as
    ``redis.ConnectionError`` / ``redis.TimeoutError`` (``MasterNotFoundError``, a
    ConnectionError, when no sentinel names a primary).
    """
    common: dict[str, Any] = {
        "socket_connect_timeout": connect_timeout_seconds,
        "socket_timeout": socket_timeout_seconds,
        "health_check_interval": health_check_interval_seconds,
        "decode_responses": decode_responses,
        "retry": _retry(),
    }
    if max_connections is not None:
        common["max_connections"] = max_connections
    if target.sentinel is not None:
        return _sentinel_client(target, common)
    if target.scheme == "unix":
        connection_class: type[Connection | UnixDomainSocketConnection] = PrimaryUnixConnection
    else:
        common["socket_keepalive"] = True  # TCP only: a unix socket takes no keepalive
        connection_class = PrimarySSLConnection if target.scheme == "rediss" else PrimaryConnection
    pool = redis.ConnectionPool.from_url(
        target.url, connection_class=connection_class, **common, **(target.tls or {})
    )
    return ScriptSafeRedis(connection_pool=pool)


def _sentinel_client(target: RedisTarget, common: dict[str, Any]) -> redis.Redis:
    setup = target.sentinel
    assert setup is not None
    to_sentinels = {
        "socket_connect_timeout": common["socket_connect_timeout"],
        "socket_timeout": common["socket_connect_timeout"],  # a sentinel answers at once
        "retry": _retry(),
        **target.sentinel_kwargs(),
    }
    sentinel = Sentinel(list(setup.sentinels), sentinel_kwargs=to_sentinels)  # type: ignore[no-untyped-call]
    data: dict[str, Any] = {**common, "socket_keepalive": True, "db": target.db}
    if target.username is not None:
        data["username"] = target.username
    if target.password is not None:
        data["password"] = target.password
    if target.tls is not None:
        data["connection_class"] = PrimarySentinelSSLConnection
        data.update(target.tls)
    else:
        data["connection_class"] = PrimarySentinelConnection
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        setup.service_name, redis_class=ScriptSafeRedis, **data
    )
    return client
