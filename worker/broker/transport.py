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
through untouched. The app selects it with ``broker_transport`` while ``broker_url``
stays the ``redis://`` URL of COURIER_REDIS_URL; it subclasses kombu's own classes and
overrides three methods that have kept their shape since kombu 4.
"""

from __future__ import annotations

import binascii
import json
import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from worker.broker.deadletter import DeadLetters

__all__ = ["Channel", "CheckedMessage", "PoisonError", "Transport"]

log = logging.getLogger(__name__)

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


class Channel(kombu_redis.Channel):
    """kombu's Redis channel; decoding failures of popped items go to the dead-letter key."""

    Message = CheckedMessage

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
        super().close()

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]
        except (*_DECODE_ERRORS, PoisonError) as exc:
            self._set_aside(exc)
            return True  # an item was consumed; the event loop goes on

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        try:
            return super()._get(queue)
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
        with self.conn_or_acquire() as client:
            DeadLetters(client).record(reason, detail, queue=queue, raw=raw)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`; the queue name joins poison reports."""

    Channel = Channel

    def _deliver(self, message: Any, queue: str | None) -> None:
        try:
            super()._deliver(message, queue)
        except PoisonError as exc:
            exc.queue = queue
            raise
