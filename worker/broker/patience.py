"""Work in hand waits out a Redis outage: one WARNING line per process per episode.

:func:`patiently` runs a step that is safe to repeat and, when Redis fails (gone, a
failover: ``READONLY``/``UNBLOCKED``/``LOADING``, or full: ``OOM``, all connection errors
here, :mod:`worker.errors`), waits until Redis accepts a write and runs it again, within a
bound. Every waiter of a process (jobs, campaign rows, the broker's acknowledgements in
:mod:`worker.broker.transport`) shares :data:`REDIS_OUTAGE`: however many wait, one
WARNING when the episode begins and one when Redis accepts writes again. Re-exported by
:mod:`worker.liveness.heartbeat`, where it was first written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from worker.broker.clients import accepts_writes

__all__ = ["REDIS_OUTAGE", "patiently", "wait_for_redis"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def wait_for_redis(client: redis.Redis, *, timeout_seconds: float) -> bool:
    """Wait until Redis accepts a write (:func:`~worker.broker.clients.accepts_writes`: a
    replica or a full Redis answer PING but refuse writes), at most ``timeout_seconds``;
    True when it does."""
    deadline = time.monotonic() + timeout_seconds
    delay = 0.1
    while True:
        if accepts_writes(client):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(1.0, delay * 2)


def patiently(
    client: redis.Redis, action: Callable[[], T], *, within_seconds: float, what: str
) -> T:
    """Run ``action``; when Redis fails, wait for it (at most ``within_seconds`` in all)
    and run it again. For steps that are safe to repeat (Lua scripts that check state).

    Raises:
        redis.RedisError: Redis did not come back within ``within_seconds``.
    """
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            return action()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Failovers and a full Redis are ConnectionErrors too (worker.errors).
            remaining = deadline - time.monotonic()
            if REDIS_OUTAGE.begin():  # one line per process per outage, however many wait
                log.warning(
                    "%s: Redis is unreachable (%s); waiting up to %.0f s", what, exc, remaining
                )
            if remaining <= 0 or not wait_for_redis(client, timeout_seconds=remaining):
                REDIS_OUTAGE.end()  # given up: the next waiter says so again
                raise
            if REDIS_OUTAGE.end():
                log.warning("%s: Redis answers again and accepts writes; going on", what)


class _Episode:
    """Whether this process is inside a Redis outage, for one line each way across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down = False

    def begin(self) -> bool:
        """Mark the outage; True for the first thread to see it."""
        with self._lock:
            first, self._down = not self._down, True
            return first

    def end(self) -> bool:
        """Mark Redis back; True for the first thread to see it."""
        with self._lock:
            first, self._down = self._down, False
            return first


REDIS_OUTAGE = _Episode()
"""This process's Redis outage as seen by work waiting with :func:`patiently`: however
many jobs wait, one line when it begins and one when it ends (the heartbeat and the
watchdog log their own)."""
