"""Drive a campaign: the pump that leases work to chunk tasks, and the chunk task's loop.

Work reaches the ``bulk`` queue as *members* (a chunk of up to 1,000 rows, or a retry batch
of deferred rows), never one message per user. At most ``window`` members are leased at a
time (backpressure); a member is leased to one task id until a short deadline that the
holder's heartbeat renews (:mod:`worker.liveness.heartbeat`). The pump runs after every member, at
start, resume and cancel, and every COURIER_CAMPAIGN_WATCHDOG_SECONDS in every worker's
watchdog (no timer message: a countdown message a worker keeps reserved dies with it): it
re-leases members whose holder stopped beating (a killed worker), turns due deferred rows
into retry batches, dispatches new members into free window slots, and notices when the
campaign is done.

The chunk task's own loop is :mod:`worker.campaign.sender`.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Protocol, cast

from worker.campaign.model import PumpResult
from worker.campaign.store import CampaignStore
from worker.errors import CampaignNotFoundError

__all__ = ["Dispatcher", "Tuning", "pump"]

log = logging.getLogger(__name__)

_RECONCILE_LOCK_SECONDS = 30


class Dispatcher(Protocol):
    """Sends campaign messages to the ``bulk`` queue (the Celery tasks implement it)."""

    def member(self, campaign_id: str, member: str, token: str) -> None:
        """Send a chunk task for ``member`` with task id ``token``."""
        ...

    def ingest(self, campaign_id: str, generation: str) -> None:
        """Send the pool-listing task of ``campaign_id`` for ``generation``."""
        ...


@dataclass(frozen=True)
class Tuning:
    """A campaign's pacing options, stored in its ``meta`` at creation.

    Attributes:
        window: members leased at once (chunk tasks outstanding).
        lease_seconds: a holder whose heartbeat is silent this long is presumed dead.
        slice_seconds: a chunk task gives its thread back after this long (and requeues).
        batch_rows: most deferred rows in one retry batch.
        claim_rows: most rows a chunk task claims (and records) per script call (it
            starts at 4 and doubles while rows settle fast); at most this many per member
            may be sent twice after a crash.
    """

    window: int
    lease_seconds: float
    slice_seconds: float
    batch_rows: int
    claim_rows: int = 16

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> Tuning:
        """Read the tuning stored in a campaign's ``meta``."""
        return cls(
            window=int(meta["window"]),
            lease_seconds=float(meta["lease_seconds"]),
            slice_seconds=float(meta["slice_seconds"]),
            batch_rows=int(meta.get("batch_rows", meta["chunk_size"])),
            claim_rows=int(meta.get("claim_rows", 16)),
        )


def pump(store: CampaignStore, dispatcher: Dispatcher, *, reap: bool = True) -> PumpResult:
    """Lease and dispatch what can go now; returns what it found (:class:`PumpResult`).

    ``reap`` False leaves expired leases alone (the watchdog, just after a Redis outage,
    gives live holders a moment to renew theirs first).

    Raises:
        redis.RedisError: Redis failed (what was dispatched stays dispatched).
    """
    keys = store.keys
    try:
        meta = store.meta()
    except CampaignNotFoundError:
        return PumpResult.GONE
    tuning = Tuning.from_meta(meta)
    expire_at = int(meta["expire_at"])
    expired = cast("list[bytes]", store.redis.zrangebyscore(keys.leases, "-inf", time.time()))
    for raw in expired if reap else ():
        member, token = raw.decode(), _token()
        if store.run("REAP", [keys.leases, keys.owners], [member, token, tuning.lease_seconds]):
            log.warning("campaign %s: %s had no live holder; dispatching again", store.id, member)
            dispatcher.member(store.id, member, token)
    common = [tuning.window, "", tuning.lease_seconds, expire_at]
    while True:
        token = _token()
        batch_id = uuid.uuid4().hex[:12]
        common[1] = token
        member = store.run(
            "DUE",
            [keys.meta, keys.deferred, keys.leases, keys.owners, keys.batch(batch_id)],
            [*common, f"b:{batch_id}", tuning.batch_rows],
        )
        if not member:
            break
        dispatcher.member(store.id, member.decode(), token)
    _dispatch_next(store, dispatcher, common)
    finished = PumpResult(
        int(
            store.run(
                "FINISH", [keys.meta, keys.counts, keys.leases, keys.requeue, keys.deferred], []
            )
        )
    )
    if finished is PumpResult.UNREACHED and store.redis.set(
        keys.prefix + "reconciling", 1, nx=True, ex=_RECONCILE_LOCK_SECONDS
    ):
        _reconcile(store, meta, expire_at)
        _dispatch_next(store, dispatcher, common)
    return finished


def _dispatch_next(store: CampaignStore, dispatcher: Dispatcher, common: list[object]) -> None:
    keys = store.keys
    while True:
        token = _token()
        common[1] = token
        member = store.run("NEXT", [keys.meta, keys.leases, keys.owners, keys.requeue], common)
        if not member:
            return
        dispatcher.member(store.id, member.decode(), token)


def _reconcile(store: CampaignStore, meta: dict[str, str], expire_at: int) -> None:
    """Find open rows nothing will reach (a lost message) and queue their chunks again."""
    size = int(meta["chunk_size"])
    if meta["state"] == "cancelled":
        store.sweep(chunk_size=size, with_running=True)
        return
    keys = store.keys
    total = int(store.redis.hget(keys.meta, "total") or 0)
    for chunk, start in enumerate(range(0, total, size)):
        args = [start, size, expire_at]
        if int(store.run("RECONCILE", [keys.rows, keys.counts, keys.deferred], args)):
            log.warning("campaign %s: chunk %d had open rows; queueing it again", store.id, chunk)
            store.redis.rpush(keys.requeue, f"c:{chunk}")
    store.redis.expireat(keys.requeue, expire_at)


def _token() -> str:
    return str(uuid.uuid4())
