"""kombu's Redis transport, with items that are not kombu messages set aside instead of fatal.

kombu pops an item off a queue list (``BRPOP``), decodes it as JSON and builds a message
from its envelope, all inside the worker's event loop: an item that is not UTF-8 JSON, or
JSON without a kombu envelope, raises there and stops the worker ("Unrecoverable error",
exit 0), and the item is gone. This transport catches exactly those failures:

* the decoding of a popped item (``UnicodeDecodeError``/``JSONDecodeError``, which carry
  the raw item) in :meth:`Channel._brpop_read` and :meth:`Channel._get`;
* the building of a message from a decoded item (:class:`CheckedMessage`), where the
  queue name is known;

and records the item in the dead-letter key (:mod:`worker.broker.deadletter`) with one log line
and a counter; the worker goes on. Everything else (connection errors above all) passes
through untouched.

Four more guards, for high availability (a failover, a full Redis):

* the channels' connections are :mod:`worker.broker.clients`' ``Primary*`` classes, so a
  primary that became a replica (``READONLY``, ``UNBLOCKED`` on the pending BRPOP) or a
  full Redis is a connection error: Celery's consumer pauses and reconnects (to the new
  primary: through Sentinel, or the endpoint's name resolved again) instead of exiting
  with "Unrecoverable error: ResponseError";
* an acknowledgement refused by an outage (the old primary now a replica, a full Redis)
  waits for Redis and is made again (:meth:`Channel.basic_ack`), instead of Celery's
  CRITICAL "Couldn't ack" with a traceback and the message run again after the
  visibility timeout;
* a channel closed under running tasks (the connection lost) keeps their messages in
  the unacknowledged record instead of putting them back on the queue for another worker
  to run a second time (:class:`RunningKeptQoS`);
* a message popped while Redis is full (BRPOP takes no memory, but recording it as
  unacknowledged, ZADD + HSET, is refused) would be in no Redis key: it is held in
  :data:`HELD_WHILE_FULL` and put back at the head of its queue once Redis accepts writes.

The app selects :class:`Transport` (one endpoint) or :class:`SentinelTransport`
(``sentinel://``, kombu's Sentinel transport with ``master_name``) with
``broker_transport``; both subclass kombu's own classes and override methods that have
kept their shape since kombu 4.
"""

from __future__ import annotations

import binascii
import json
import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from worker.broker.clients import (
    PrimaryConnection,
    PrimarySentinelConnection,
    PrimarySentinelSSLConnection,
    PrimarySSLConnection,
)
from worker.broker.deadletter import DeadLetters
from worker.broker.patience import patiently
from worker.errors import RedisFullError

__all__ = [
    "ACK_PATIENCE_SECONDS",
    "HELD_WHILE_FULL",
    "Channel",
    "CheckedMessage",
    "PoisonError",
    "RunningKeptQoS",
    "SentinelChannel",
    "SentinelTransport",
    "Transport",
    "restore_held",
]

log = logging.getLogger(__name__)

ACK_PATIENCE_SECONDS = 60.0
"""How long an acknowledgement waits for a Redis that refuses it (a failover, a full Redis)."""

_DECODE_ERRORS = (UnicodeDecodeError, json.JSONDecodeError)
_ENVELOPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, binascii.Error)


class PoisonError(Exception):
    """Raised when a decoded queue item is not a kombu message envelope."""

    def __init__(self, detail: str, raw: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.raw = raw
        self.queue: str | None = None


class CheckedMessage(virtual.Message):
    """kombu's message, raising :class:`PoisonError` for a payload that is no envelope."""

    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
            raise PoisonError("JSON without a kombu message envelope", payload)
        try:
            super().__init__(payload, channel=channel, **kwargs)
        except _ENVELOPE_ERRORS as exc:
            raise PoisonError(
                f"broken kombu envelope ({type(exc).__name__}: {exc})", payload
            ) from exc


def _running_tags() -> set[str]:
    """Delivery tags of the tasks this worker runs now (none while it shuts down, and none
    in a process that is not a worker)."""
    from celery.worker import state  # noqa: PLC0415 - the worker's own bookkeeping

    if state.should_stop is not None or state.should_terminate is not None:
        return set()  # a shutdown: what is left is given back, as kombu does
    tags: set[str] = set()
    for request in list(state.active_requests):
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag is not None:
            tags.add(str(tag))
    return tags


class RunningKeptQoS(kombu_redis.QoS):
    """kombu's Redis QoS, except that a channel closed under running tasks (a connection
    lost: a failover, a restart) does not give their messages back to the queue.

    kombu restores every unacknowledged message of a channel when it closes ("Restoring N
    unacknowledged message(s)"); when the connection was lost but Redis answers again at
    once (a managed failover: the endpoint already points at the new primary), another
    worker then gets the message of a task still running here and runs it a second time
    (campaign rows sent twice, tests/resilience/test_managed_failover.py). The messages of
    running tasks stay in the unacknowledged record instead: their tasks acknowledge them
    when they end (:meth:`_Guards.basic_ack` waits for Redis), and if this worker dies first
    the visibility timeout brings them back. Prefetched messages not yet started are
    restored as before; at shutdown everything left is restored as before.
    """

    def restore_unacked(self, client: Any = None) -> None:
        running = _running_tags()
        delivered: Any = self._delivered
        channel: Any = self.channel
        with channel.conn_or_acquire(client) as conn:
            for tag in delivered:
                if str(tag) not in running:
                    self.restore_by_tag(tag, client=conn)
        delivered.clear()


class _Guards:
    """What this project adds to kombu's Redis channels (one endpoint and Sentinel alike)."""

    Message = CheckedMessage
    QoS = RunningKeptQoS
    connection: Any
    closed: bool

    def close(self) -> None:
        """Close, except a channel whose transport was already detached from its connection.

        Celery 5.7.0 (``Consumer.on_connection_error_after_connected``) calls
        ``connection.collect()``, which detaches the transport, and then
        ``connection.close()``, which closes the channels again: ``restore_unacked`` then
        needs a Redis pool built from the detached ``transport.client`` (None) and the
        worker exits with "AttributeError: 'NoneType' object has no attribute
        'hostname'" (Celery 5.6 makes no second call). Such a channel is marked
        closed and left as it is: its unacknowledged messages stay in Redis, acknowledged
        by the jobs still running (through the channel's pool, which survives) or restored
        after the visibility timeout. tests/resilience/test_redis_restart.py fails without
        this on Celery 5.7.0.
        """
        transport: Any = self.connection
        if transport is not None and transport.client is None and not self.closed:
            self.closed = True
            transport.cycle.discard(self)
        super().close()  # type: ignore[misc]

    def _create_client(self, asynchronous: bool = False) -> Any:
        """kombu's client for one operation; the synchronous one made once per pool.

        kombu 5.7.0 builds a new ``redis.Redis`` on its channel's pool for every
        ``conn_or_acquire()``: each acknowledgement, each task event published (three per
        job) and each message restored. redis-py 8's constructor fills a response-callback
        table of some 200 entries each time: 5.6% of a busy worker's CPU in
        ``benchmarks.job_path`` (py-spy, 3,000 jobs). A ``redis.Redis`` is safe to share
        between threads (each command takes a connection from the pool), so one per pool
        serves them all; a new pool (kombu builds one after a connection loss) gets a new
        client. tests/broker/test_transport_clients.py counts the constructions.
        """
        parent: Any = super()
        if asynchronous:
            return parent._create_client(asynchronous=True)
        pool = self.pool  # type: ignore[attr-defined]
        cached = self.__dict__.get("_courier_sync_client")
        if cached is None or cached.connection_pool is not pool:
            cached = parent._create_client()
            self.__dict__["_courier_sync_client"] = cached
        return cached

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """Acknowledge; through an outage (a failover, a full Redis) wait until Redis
        accepts writes and acknowledge again (ZREM + HDEL: safe to repeat), at most
        :data:`ACK_PATIENCE_SECONDS`, with one WARNING per process per episode
        (:func:`worker.broker.patience.patiently`). Past that the error goes on to kombu
        and Celery (``Couldn't ack``), and the message comes back after the visibility
        timeout, as before."""
        parent: Any = super()

        def ack() -> None:
            parent.basic_ack(delivery_tag, multiple)

        client: Any = self.client  # type: ignore[attr-defined]
        patiently(client, ack, within_seconds=ACK_PATIENCE_SECONDS, what="acknowledging a message")

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]
        except (*_DECODE_ERRORS, PoisonError) as exc:
            self._set_aside(exc)
            return True  # an item was consumed; the event loop goes on

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        try:
            return super()._get(queue)  # type: ignore[misc]
        except _DECODE_ERRORS as exc:
            self._set_aside(exc, queue=queue)
            raise virtual.Empty() from None  # kombu's "nothing there": polling goes on

    def _set_aside(self, exc: Exception, *, queue: str | None = None) -> None:
        if isinstance(exc, PoisonError):
            reason, detail, raw, queue = "not_a_message", exc.detail, exc.raw, exc.queue
        elif isinstance(exc, UnicodeDecodeError):
            reason, detail, raw = "undecodable", "not UTF-8", exc.object
        else:
            assert isinstance(exc, json.JSONDecodeError)
            reason, detail, raw = "undecodable", f"not JSON ({exc.msg})", exc.doc
        with self.conn_or_acquire() as client:  # type: ignore[attr-defined]
            DeadLetters(client).record(reason, detail, queue=queue, raw=raw)


class Channel(_Guards, kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel on one endpoint, with :class:`_Guards`; its connections report
    a failover or a full Redis as an outage (:mod:`worker.broker.clients`)."""

    connection_class = PrimaryConnection
    connection_class_ssl = PrimarySSLConnection


class SentinelChannel(_Guards, kombu_redis.SentinelChannel):  # type: ignore[misc]
    """kombu's Sentinel channel (``master_name``, ``sentinel_kwargs`` transport options),
    with :class:`_Guards` and connections that report outages the same way."""

    connection_class = PrimarySentinelConnection
    connection_class_ssl = PrimarySentinelSSLConnection


class _Delivery:
    """The queue name joins poison reports; a message popped while Redis is full is held."""

    def _deliver(self, message: Any, queue: str | None) -> None:
        try:
            super()._deliver(message, queue)  # type: ignore[misc]
        except PoisonError as exc:
            exc.queue = queue
            raise
        except RedisFullError:
            # Popped (BRPOP takes no memory) but not recorded as unacknowledged (ZADD and
            # HSET are refused at maxmemory): it is in no Redis key now. Held here and put
            # back at the head of its queue once Redis accepts writes (CourierConsumer).
            if queue is not None:
                HELD_WHILE_FULL.append((queue, message))
            raise


HELD_WHILE_FULL: list[tuple[str, Any]] = []
"""Messages popped while Redis refused writes, as (queue, payload): put back by
:func:`restore_held` when Redis accepts writes again (the consumer calls it)."""


def restore_held(client: Any) -> int:
    """Put every held message back at the head of its queue; returns how many.

    Raises:
        redis.RedisError: Redis refused (the rest stay held, for the next try).
    """
    restored = 0
    while HELD_WHILE_FULL:
        queue, payload = HELD_WHILE_FULL[0]
        client.rpush(queue, json.dumps(payload))  # BRPOP takes from the right: next out
        HELD_WHILE_FULL.pop(0)
        restored += 1
    return restored


class Transport(_Delivery, kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


class SentinelTransport(_Delivery, kombu_redis.SentinelTransport):
    """kombu's Sentinel transport with :class:`SentinelChannel`."""

    Channel = SentinelChannel
