"""The worker's broker consumer: an outage is a pause, poison is set aside, evicting Redis refused.

:class:`CourierConsumer` is Celery's own consumer (``worker_consumer`` in
:mod:`worker.app`) with four changes, each on a documented extension point of
``celery.worker.consumer.Consumer``:

* **Outages.** When the connection to Redis is lost, one WARNING line says so; when it is
  back, one WARNING line says after how long. Celery's own lines for the same events (a
  traceback on loss, an ERROR every retry) are dropped by :class:`OutageLogFilter`.
  Reconnection is tried every :data:`RECONNECT_INTERVAL_MAX_SECONDS` at most (kombu's
  default grows to 30 s), forever (``broker_connection_max_retries=None`` in the app), so
  a worker resumes within seconds of Redis answering again, however long it was away.
* **Poison.** A message that is not a task of this app (not a Celery message, an unknown
  task name or one of Celery's built-ins, arguments the task refuses, a body Celery cannot
  decode or refuses: :mod:`worker.broker.admission`) goes to the dead-letter key
  (:mod:`worker.broker.deadletter`) with one log line and a counter, and is then rejected, as
  Celery would. Items that are not even kombu messages are caught one level down, in
  :mod:`worker.broker.transport`.
* **Eviction.** At the first connection the worker checks Redis's ``maxmemory-policy``
  (:func:`worker.broker.door.check_eviction_policy`) and stops, exit status 2, when it may evict.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import warnings
from typing import Any

from celery import signals
from celery.exceptions import CPendingDeprecationWarning, WorkerShutdown
from celery.worker import state
from celery.worker.consumer import consumer as _celery_consumer
from celery.worker.request import Request

from worker.broker.admission import admit_own_tasks
from worker.broker.clients import accepts_writes
from worker.broker.deadletter import DeadLetters
from worker.broker.door import CONNECTION_ERRORS, check_eviction_policy
from worker.broker.transport import restore_held
from worker.errors import BrokerUnavailable, ConfigurationError

__all__ = ["RECONNECT_INTERVAL_MAX_SECONDS", "CourierConsumer", "OutageLogFilter"]

log = logging.getLogger(__name__)

celery_consumer: Any = _celery_consumer  # its message templates and logger are untyped

RECONNECT_INTERVAL_MAX_SECONDS = 2
"""Longest pause between two attempts to reach Redis again (kombu's default is 30 s)."""

EXIT_CONFIGURATION = 2
"""Exit status of a worker refusing its Redis (the CLI's "bad configuration")."""

# We keep running tasks through an outage on purpose (see worker.app); Celery warns at every
# connection loss that a future major version will change that default.
warnings.filterwarnings(
    "ignore",
    message=re.escape(celery_consumer.CANCEL_TASKS_BY_DEFAULT[:80]),
    category=CPendingDeprecationWarning,
)


class OutageLogFilter(logging.Filter):
    """Drops Celery's per-retry connection messages; :class:`CourierConsumer` logs instead.

    Matched by identity with Celery's own message templates, so a reworded Celery release
    shows its lines again rather than hiding something else.
    """

    _DROPPED = (celery_consumer.CONNECTION_RETRY, celery_consumer.CONNECTION_ERROR)

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the records this filter replaces (the template as message or argument)."""
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(
            record.msg is template or any(arg is template for arg in args)
            for template in self._DROPPED
        )


_FILTER = OutageLogFilter()


class CourierConsumer(_celery_consumer.Consumer):
    """Celery's consumer, pausing quietly through outages and dead-lettering poison."""

    _policy_checked = False  # per process: the eviction check runs at the first connection
    connection_errors: tuple[type[BaseException], ...]  # set by Celery's consumer
    strategies: dict[str, Any]  # set by Celery's consumer: task name -> message handler
    event_dispatcher: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        celery_consumer.logger.addFilter(_FILTER)  # a set: adding twice keeps one
        self._down_since: float | None = None
        self._forgotten_tags: list[str] = []
        self._held_failing = False  # restore_held refused: logged once until it works
        # Countdown requests by delivery tag, held strongly: Celery's timer lets go of them.
        self._countdowns: dict[str, Request] = {}

    # --- outages -----------------------------------------------------------------------

    def connection_for_read(self, heartbeat: float | None = None) -> Any:
        """The consuming connection, retried at most every RECONNECT_INTERVAL_MAX_SECONDS."""
        conn = self.app.connection_for_read(heartbeat=heartbeat)
        conn.ensure_connection = functools.partial(  # type: ignore[method-assign]
            conn.ensure_connection,
            interval_start=1,
            interval_step=1,
            interval_max=RECONNECT_INTERVAL_MAX_SECONDS,
        )
        return self.ensure_connected(conn)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        """Log the loss once; Celery then restarts the consumer, which reconnects."""
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning(
                "lost the connection to Redis at %s (%s); pausing: running jobs go on, "
                "new ones wait until Redis answers again",
                self._broker_url(),
                _reason(exc),
            )
        super().on_connection_error_after_connected(exc)

    def on_close(self) -> None:
        """Remember the countdown messages Celery is about to forget, then let it forget.

        A countdown message waits in the worker's timer. On a connection loss Celery
        empties that timer (celery/worker/loops.py) and forgets the message, which then
        sits in kombu's ``unacked`` hash until the visibility timeout (15 min by
        default). :meth:`connect` puts it back on its queue instead, so it runs on time
        once Redis answers. A request already handed to the pool is left alone.
        """
        started = set(state.reserved_requests) | set(state.active_requests)
        for tag, request in self._countdowns.items():
            if request not in started and not request.acknowledged:
                self._forgotten_tags.append(tag)
        self._countdowns.clear()
        super().on_close()

    def remember_countdown(self, request: Request) -> None:
        """Keep ``request`` (it has an ETA) until it runs; forget those that ran."""
        done = [tag for tag, held in self._countdowns.items() if held.acknowledged]
        for tag in done:
            del self._countdowns[tag]
        self._countdowns[request.message.delivery_tag] = request

    def connect(self) -> Any:
        """Connect (retrying); log the return after an outage; check eviction once."""
        conn = super().connect()
        if self._down_since is not None:
            self._wait_until_writable()  # "back" only once Redis took a write
            log.warning(
                "Redis at %s answers again after %.1f s; consuming resumed",
                self._broker_url(),
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        self._restore_held()
        self._restore_forgotten(conn)
        if not CourierConsumer._policy_checked:
            self._check_eviction()
        return conn

    def _wait_until_writable(self) -> None:
        """Wait (every RECONNECT_INTERVAL_MAX_SECONDS) until Redis accepts a write: after a
        failover the endpoint may still lead to a replica, and a full Redis answers reads;
        neither is "back". A warm or cold shutdown ends the wait."""
        from worker.runtime import get_runtime  # noqa: PLC0415 - built after the fork

        client = get_runtime().redis
        while not accepts_writes(client):
            if state.should_stop is not None or state.should_terminate is not None:
                return
            time.sleep(RECONNECT_INTERVAL_MAX_SECONDS)

    def _restore_held(self) -> None:
        """Put back the messages popped while Redis was full (worker.broker.transport)."""
        from worker.runtime import get_runtime  # noqa: PLC0415

        try:
            count = restore_held(get_runtime().redis)
        except CONNECTION_ERRORS as exc:
            if not self._held_failing:  # one line per episode, not one per retry
                log.warning(
                    "could not put held messages back yet (%s); retried later", _reason(exc)
                )
            self._held_failing = True
            return
        self._held_failing = False
        if count:
            log.info("put %d message(s) popped while Redis was full back on their queues", count)

    def _restore_forgotten(self, conn: Any) -> None:
        tags, self._forgotten_tags = self._forgotten_tags, []
        qos = conn.default_channel.qos
        for tag in tags:
            # Atomic per tag (WATCH on the unacked hash); a tag acked meanwhile is skipped.
            qos.restore_by_tag(tag, leftmost=True)
        if tags:
            log.info("put %d countdown message(s) back on their queues", len(tags))

    def _check_eviction(self) -> None:
        from worker.runtime import get_runtime  # noqa: PLC0415 - built after the fork

        runtime = get_runtime()
        try:
            check_eviction_policy(runtime.redis, runtime.settings, role="worker")
        except BrokerUnavailable:
            return  # Redis went away again: checked at the next connection
        except ConfigurationError as exc:  # it may evict, or the URL names no database
            log.critical("%s; stopping", exc)
            raise WorkerShutdown(EXIT_CONFIGURATION) from None
        CourierConsumer._policy_checked = True

    def _broker_url(self) -> str:
        from worker.runtime import get_runtime  # noqa: PLC0415

        return get_runtime().settings.redis_target.masked  # Sentinel: the URL as given

    # --- poison ------------------------------------------------------------------------

    def update_strategies(self) -> None:
        """Celery's strategies for this app's own tasks only, each checking its arguments
        (:mod:`worker.broker.admission`): Celery's built-ins become ``unknown_task``."""
        super().update_strategies()
        admit_own_tasks(self.strategies, self.app.tasks)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        """A kombu message that is not a Celery task message: dead-letter, reject."""
        self._dead_letter("not_a_task", "no task name in the message headers or body", message)
        message.reject_log_error(celery_consumer.logger, self.connection_errors)
        signals.task_rejected.send(sender=self, message=message, exc=None)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task name this app does not have: dead-letter, reject."""
        headers = message.headers or {}
        name = headers.get("task")
        job_id = headers.get("id")
        self._dead_letter(
            "unknown_task", f"no task named {name!r} here", message, task=name, job_id=job_id
        )
        message.reject_log_error(celery_consumer.logger, self.connection_errors)
        if self.event_dispatcher and job_id:
            self.event_dispatcher.send(
                "task-failed", uuid=job_id, exception=f"NotRegistered({name!r})"
            )
        signals.task_unknown.send(sender=self, message=message, exc=exc, name=name, id=job_id)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        """A task message Celery refuses: dead-letter, reject."""
        headers = message.headers or {}
        self._dead_letter(
            "invalid_task",
            _reason(exc),
            message,
            task=headers.get("task"),
            job_id=headers.get("id"),
        )
        message.reject_log_error(celery_consumer.logger, self.connection_errors)
        signals.task_rejected.send(sender=self, message=message, exc=exc)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        """A body Celery cannot decode: dead-letter, then acknowledge (as Celery does)."""
        self._dead_letter("invalid_task", f"undecodable body: {_reason(exc)}", message)
        message.ack()

    def _dead_letter(
        self,
        reason: str,
        detail: str,
        message: Any,
        *,
        task: str | None = None,
        job_id: str | None = None,
    ) -> None:
        from worker.runtime import get_runtime  # noqa: PLC0415

        info = message.delivery_info or {}
        raw = getattr(message, "_raw", None) or message.body
        try:
            DeadLetters(get_runtime().redis).record(
                reason,
                detail,
                queue=info.get("routing_key"),
                raw=raw,
                task=task,
                job_id=job_id,
            )
        except CONNECTION_ERRORS:
            # Not recorded, so not rejected: the message stays unacknowledged and comes back.
            log.warning("could not dead-letter a %s message (Redis unreachable)", reason)
            raise


@signals.task_received.connect
def _remember_countdown(sender: Any = None, request: Any = None, **_: Any) -> None:
    # Celery sends task_received from the consumer for every request, before an ETA is
    # put in the timer (celery/worker/strategy.py).
    if isinstance(sender, CourierConsumer) and getattr(request, "eta", None) is not None:
        sender.remember_countdown(request)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
