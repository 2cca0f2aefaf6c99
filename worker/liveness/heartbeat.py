"""Liveness: whoever holds work proves it is alive with a heartbeat, not with a long lease.

A holder of work (a chunk task holding a campaign member, a worker running an interactive
job) takes a *short* lease (COURIER_LEASE_SECONDS, 15 s by default) in Redis and registers
it with its process's :class:`Heartbeat`; a daemon thread renews every registered lease
each COURIER_HEARTBEAT_SECONDS (3 s) for as long as the process lives and the lease is
held. A delivery that takes minutes (permit waits, retries, a slow Cognito) keeps its work
because its process keeps beating; a SIGKILLed process stops beating at once, and the
reaper in every worker (:mod:`worker.liveness.watchdog`) takes its work back within
``lease + reaper period`` seconds. Each renewal is one Lua script that checks the holder's
token first, so a late zombie can never renew (or take back) a lease a newer holder has.

A Redis outage is a pause: the heartbeat thread keeps trying every half second and logs
once when Redis goes away and once when it is back; :func:`patiently` lets work in hand
wait for Redis within a bound instead of failing at the first refused connection.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from worker.broker.patience import REDIS_OUTAGE, patiently, wait_for_redis

__all__ = [
    "REDIS_OUTAGE",
    "SHUTTING_DOWN",
    "Heartbeat",
    "Held",
    "Lease",
    "holder_token",
    "patiently",
    "wait_for_redis",
]

log = logging.getLogger(__name__)


_OUTAGE_RETRY_SECONDS = 0.5
_RELEASED = 2  # a renewal's reply: the work ended while the renewal was on its way

SHUTTING_DOWN = threading.Event()
"""Set when this worker begins a warm shutdown (SIGTERM): holders of long work (a chunk
task) hand it back at the next step instead of running their whole slice."""


def holder_token() -> str:
    """A fresh holder id naming this host and process: ``host:pid:8 hex digits``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """A lease that a heartbeat can renew (a campaign member, an interactive job).

    Args:
        label: what it is, for log lines (``campaign 3f2a c:4``, ``job 0f6f...``).
        renew: queues the renewal on the redis-py pipeline given as ``client=``; its
            reply is 1 while the lease is held, 0 once another holder has it, 2 once
            the work has ended (its own finish released the lease while the renewal was
            on its way: nothing was taken, nothing is logged).
    """

    def __init__(self, label: str, renew: Callable[..., Any]) -> None:
        self.label = label
        self._renew = renew

    def renew(self, pipe: Any) -> None:
        """Queue the renewal on ``pipe``."""
        self._renew(client=pipe)

    def __repr__(self) -> str:
        return f"Lease({self.label})"


class Held:
    """A lease registered with a :class:`Heartbeat`; ``lost`` turns True if it was taken."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost = False


class Heartbeat:
    """Renews the leases this process holds, from one daemon thread.

    Args:
        client: the process's Redis client.
        period_seconds: time between two renewals of every lease (COURIER_HEARTBEAT_SECONDS).

    The thread starts with the first :meth:`holding` and stays for the process's life.
    """

    def __init__(self, client: redis.Redis, *, period_seconds: float) -> None:
        if period_seconds <= 0:
            raise ValueError("period_seconds must be above 0")
        self._redis = client
        self._period = period_seconds
        self._held: dict[int, Held] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._redis_down = False

    @contextmanager
    def holding(self, lease: Lease) -> Iterator[Held]:
        """Keep ``lease`` renewed for the duration of the block."""
        held = Held(lease)
        with self._lock:
            self._held[id(held)] = held
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="courier-heartbeat", daemon=True
                )
                self._thread.start()
        try:
            yield held
        finally:
            with self._lock:
                self._held.pop(id(held), None)

    def beat(self) -> int:
        """Renew every held lease now, in one round trip; returns how many are still held.

        Raises:
            redis.RedisError: Redis did not answer (the thread retries; callers may too).
        """
        with self._lock:
            held = list(self._held.values())
        if not held:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for item in held:
            item.lease.renew(pipe)
        replies = pipe.execute(raise_on_error=False)
        alive = 0
        for item, reply in zip(held, replies, strict=True):
            if isinstance(reply, redis.RedisError):
                raise reply
            if int(reply) == 1:
                alive += 1
            elif int(reply) == _RELEASED:
                continue
            elif not item.lost:
                item.lost = True
                log.warning("heartbeat: lease %r was taken by another holder", item.lease)
        return alive

    def close(self) -> None:
        """Stop the thread (tests; a worker's thread ends with its process)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        wait = self._period
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.beat()
            except redis.RedisError as exc:
                if not self._redis_down:
                    self._redis_down = True
                    log.warning("heartbeat: Redis is unreachable (%s); retrying", exc)
                wait = _OUTAGE_RETRY_SECONDS
                continue
            except Exception:  # a worker must never lose its heartbeat to a bug
                log.exception("heartbeat: renewal failed")
            if self._redis_down:
                self._redis_down = False
                log.warning("heartbeat: Redis answers again and accepts writes; leases renewed")
            wait = self._period
