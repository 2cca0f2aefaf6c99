"""Waiting for a replica, so an acknowledged write survives a failover.

Redis replication is asynchronous: a write the primary acknowledged may be missing on the
replica promoted in its place (Redis documentation, "Replication": "Redis uses by default
asynchronous replication"; ``WAIT numreplicas timeout`` blocks until that many replicas
acknowledged every write the connection made before it, and returns how many did). So an
accepted job (its status document and its message) and a recorded outcome (a job's
terminal state, a campaign batch's ``RECORD``) are followed by ``WAIT`` on the same
connection, in the same pipeline (:meth:`ReplicaWait.durable`).

How many replicas: ``COURIER_REDIS_MIN_REPLICAS``; unset, the replicas the primary says
are connected and in sync (``INFO replication``'s ``slaveN`` entries with ``state=online``,
or, for an ACL user without INFO, ``WAIT 0 0``'s count), at most 1, read again every
:data:`RECOUNT_SECONDS`; 0 turns waiting off. With no replica there is nothing to wait for
and no cost.

When ``WAIT`` times out (:data:`WAIT_TIMEOUT_MS`: the replica lags or is gone), the write
stands on the primary: the job is accepted, the outcome recorded, nothing is undone or
refused (refusing would turn a lost replica into an outage of the whole service). One
WARNING line says acknowledged writes may now be lost in a failover; for
:data:`DEGRADED_SECONDS` after it nothing waits (a dead replica does not make every write
slower), then waiting is tried again; the line saying the replica acknowledges again is
logged once it does.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Final

import redis

__all__ = [
    "DEGRADED_SECONDS",
    "RECOUNT_SECONDS",
    "WAIT_TIMEOUT_MS",
    "ReplicaWait",
    "replica_wait",
]

log = logging.getLogger(__name__)

WAIT_TIMEOUT_MS: Final = 500
"""Longest a write waits for its replica (ms); on loopback a live replica answers in < 1 ms."""
RECOUNT_SECONDS: Final = 10.0
"""How often the number of connected replicas is read again (when not set)."""
DEGRADED_SECONDS: Final = 10.0
"""After a WAIT timed out, how long writes do not wait before trying again."""


class ReplicaWait:
    """``WAIT`` after the writes that must survive a failover; one per Redis client.

    Args:
        client: the Redis client whose writes are waited for.
        min_replicas: replicas to wait for; None: connected ones, at most 1; 0: never.
        timeout_ms: the longest one WAIT blocks.
    """

    def __init__(
        self, client: redis.Redis, *, min_replicas: int | None, timeout_ms: int = WAIT_TIMEOUT_MS
    ) -> None:
        self._client = client
        self._min_replicas = min_replicas
        self.timeout_ms = timeout_ms
        self._lock = threading.Lock()
        self._counted = 0
        self._counted_at = -RECOUNT_SECONDS
        self._degraded_until = 0.0
        self._warned = False
        self._failing = False  # the marker write failing: logged once until it works

    def wanted(self) -> int:
        """Replicas a write waits for now (0: it does not wait).

        Raises:
            redis.RedisError: Redis failed while the connected replicas were counted.
        """
        if self._min_replicas is not None:
            wanted = self._min_replicas
        else:
            now = time.monotonic()
            if now - self._counted_at >= RECOUNT_SECONDS:
                self._counted = min(1, _connected_replicas(self._client))
                self._counted_at = now
            wanted = self._counted
        if wanted and time.monotonic() < self._degraded_until:
            return 0
        return wanted

    def durable(self, pipe: Any) -> list[Any]:
        """Execute ``pipe`` (a pipeline), then WAIT for what it wrote; returns its replies.

        A non-transactional pipeline gets WAIT as its last command (one round trip, the
        same connection); a MULTI pipeline is followed by :meth:`after_write` (WAIT inside
        MULTI never blocks).

        Raises:
            redis.RedisError: the pipeline failed (as ``pipe.execute()`` would).
        """
        wanted = self.wanted()
        if wanted == 0:
            return list(pipe.execute())
        replies: list[Any]
        if getattr(pipe, "transaction", False):
            replies = list(pipe.execute())
            self.after_write()
            return replies
        pipe.wait(wanted, self.timeout_ms)
        replies = list(pipe.execute())
        self._note(int(replies.pop()), wanted)
        return replies

    def script(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """Run a registered Lua ``script`` (redis-py's ``Script``), then WAIT for what it
        wrote, in one round trip; returns its reply. Without replicas, just runs it.

        Raises:
            redis.RedisError: the script or Redis failed.
        """
        if self.wanted() == 0:
            return script(keys=keys, args=args)
        pipe = self._client.pipeline(transaction=False)
        script(keys=keys, args=args, client=pipe)
        return self.durable(pipe)[0]

    def after_write(self) -> int:
        """WAIT for every write made so far through any connection of the client (or of
        kombu, publishing to the same Redis); returns how many replicas acknowledged
        (-1: nothing waited for).

        WAIT covers what its own connection wrote; replication is one ordered stream, so
        a marker write on this connection, after theirs, carries an offset past theirs.
        Never raises: when Redis fails here (gone, full), what was written before stands;
        that is logged and counted as a WAIT that timed out.
        """
        wanted = self.wanted()
        if wanted == 0:
            return -1
        pipe = self._client.pipeline(transaction=False)
        pipe.set(_MARKER_KEY, b"1", px=60_000)
        pipe.wait(wanted, self.timeout_ms)
        try:
            _, acknowledged = pipe.execute()
        except redis.RedisError as exc:
            # What was written stands (the caller's job is accepted): only the wait failed.
            # One line per episode (a full Redis refuses the marker at every write), not
            # one per write: the next acknowledged WAIT ends it (see _note).
            with self._lock:
                first, self._failing = not self._failing, True
            if first:
                log.warning("could not wait for a Redis replica (%s): %s", type(exc).__name__, exc)
            self._note(0, wanted)
            return 0
        with self._lock:
            self._failing = False
        self._note(int(acknowledged), wanted)
        return int(acknowledged)

    def _note(self, acknowledged: int, wanted: int) -> None:
        with self._lock:
            if acknowledged >= wanted:
                if self._warned:
                    self._warned = False
                    log.warning("Redis replica acknowledges writes again; waiting for it resumed")
                return
            self._degraded_until = time.monotonic() + DEGRADED_SECONDS
            self._counted_at = -RECOUNT_SECONDS  # count the replicas again next time
            if not self._warned:
                self._warned = True
                log.warning(
                    "Redis replica did not acknowledge a write within %d ms (%d of %d): "
                    "writes go on on the primary, but what it acknowledged may be lost in a "
                    "failover until a replica catches up",
                    self.timeout_ms,
                    acknowledged,
                    wanted,
                )


_MARKER_KEY: Final = "courier:replicated"
"""A key written only to move a connection's replication offset before WAIT."""


def _connected_replicas(client: redis.Redis) -> int:
    try:
        info = client.info("replication")
    except redis.ResponseError:  # INFO forbidden (ACL): WAIT 0 0 answers the count
        try:
            return int(client.wait(0, 0))
        except redis.ResponseError:  # neither (a Redis-like server): none to count
            return 0
    if info.get("role") != "master":
        return 0
    # Replicas still in their first sync do not acknowledge yet: count the online ones.
    return sum(
        1
        for name, value in info.items()
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


_waits: weakref.WeakKeyDictionary[redis.Redis, ReplicaWait] = weakref.WeakKeyDictionary()
_waits_lock = threading.Lock()


def replica_wait(client: redis.Redis, *, min_replicas: int | None = None) -> ReplicaWait:
    """The :class:`ReplicaWait` of ``client`` (made on first use with ``min_replicas``;
    the runtime makes it first, with COURIER_REDIS_MIN_REPLICAS)."""
    with _waits_lock:
        found = _waits.get(client)
        if found is None:
            found = _waits[client] = ReplicaWait(client, min_replicas=min_replicas)
        return found
