"""Campaign rows in Redis: compact storage, atomic row transitions, the status document.

Layout, all under ``courier:campaign:{id}:`` and all expiring at the same moment
(``expire_at`` = creation + COURIER_CAMPAIGN_TTL_SECONDS):

* ``meta`` hash - name, client id, control state (``active|paused|cancelled``), ingest
  state, ``total``, ``rejected``, ``duplicates``, ``redelivered``, dispatch ``cursor``,
  options and timestamps (seconds since the epoch);
* ``counts`` hash - rows per state, changed only by the scripts that flip row bytes;
* ``rows`` string - one state byte per row (see :mod:`worker.campaign.model`);
* ``users:{n}`` strings - chunk ``n``'s usernames, newline-terminated (~12 B per user);
* ``out:{n}`` strings - outcome records appended as rows settle (~40 B per settled row);
* ``leases``/``owners``/``requeue``/``deferred``/``batch:{id}`` - dispatch bookkeeping;
* ``rate`` hash - a 32-slot ring of calls per second.

The index ``courier:campaigns`` (zset id -> created_at) serves ``list``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import redis

from worker.broker.replicas import replica_wait
from worker.campaign import scripts
from worker.campaign.figures import NO_SHARE, Figures, Share, ShareReads, document_state
from worker.campaign.lost import check_meta, missing
from worker.campaign.model import (
    CAMPAIGN_INDEX_KEY,
    COUNTED_STATES,
    CampaignKeys,
)
from worker.errors import CampaignError, CampaignLostError

__all__ = ["CampaignStore", "iso", "list_campaign_ids"]


def iso(epoch: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC with milliseconds and a ``Z``."""
    if epoch is None:
        return None
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8")


def list_campaign_ids(client: redis.Redis, *, ttl_seconds: int) -> list[str]:
    """Ids of the campaigns that may still exist, newest first (expired ones pruned)."""
    client.zremrangebyscore(CAMPAIGN_INDEX_KEY, "-inf", time.time() - ttl_seconds)
    ids = cast("list[bytes]", client.zrevrange(CAMPAIGN_INDEX_KEY, 0, -1))
    return [raw.decode() for raw in ids]


class CampaignStore:
    """One campaign's data in Redis. Cheap to build; holds no state besides the names."""

    def __init__(self, client: redis.Redis, campaign_id: str) -> None:
        self.redis = client
        self.keys = CampaignKeys(campaign_id)
        self.id = campaign_id
        self._scripts = {
            name: client.register_script(getattr(scripts, name)) for name in scripts.__all__
        }

    def run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one of :mod:`worker.campaign.scripts` by name; ``RECORD`` (outcomes) then
        waits for a replica to hold them (WAIT, :mod:`worker.broker.replicas`)."""
        if script == "RECORD":
            return replica_wait(self.redis).script(self._scripts[script], list(keys), list(args))
        return self._scripts[script](keys=list(keys), args=list(args))

    def renew(self, member: str, token: str, ttl_seconds: float, *, client: Any = None) -> Any:
        """Push the lease of ``member`` held by ``token`` to now + ``ttl_seconds``.

        Returns 1 when renewed, 0 when ``token`` no longer holds it; with ``client`` (a
        pipeline) the call is queued there and its reply comes with the pipeline's.
        """
        return self._scripts["RENEW"](
            keys=[self.keys.leases, self.keys.owners],
            args=[member, token, ttl_seconds],
            client=client,
        )

    # --- creation and ingest ------------------------------------------------------------

    def create(self, *, ttl_seconds: int, fields: dict[str, str | int | float]) -> float:
        """Write the ``meta`` and ``counts`` of a new campaign; returns ``expire_at`` (s).

        Raises:
            CampaignError: a campaign with this id exists already.
        """
        now = time.time()
        expire_at = int(now + ttl_seconds)
        meta: dict[str, str | int | float] = {
            "id": self.id,
            "state": "active",
            "ingest": "pending",
            "total": 0,
            "rejected": 0,
            "duplicates": 0,
            "redelivered": 0,
            "cursor": 0,
            "created_at": now,
            "updated_at": now,
            "expire_at": expire_at,
            **fields,
        }
        # all or nothing (WATCH + MULTI): an interrupted producer never leaves half a meta
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(self.keys.meta)  # type: ignore[no-untyped-call]
            if pipe.exists(self.keys.meta):
                raise CampaignError(f"campaign {self.id} exists already")
            pipe.multi()
            pipe.hset(self.keys.meta, mapping=cast("dict[Any, Any]", meta))
            pipe.hset(self.keys.counts, mapping=dict.fromkeys(COUNTED_STATES, 0))
            pipe.hset(self.keys.rate, "created", int(now))
            for key in (self.keys.meta, self.keys.counts, self.keys.rate):
                pipe.expireat(key, expire_at)
            pipe.zadd(CAMPAIGN_INDEX_KEY, {self.id: now})
            pipe.expire(CAMPAIGN_INDEX_KEY, ttl_seconds)
            try:
                pipe.execute()
            except redis.WatchError:
                raise CampaignError(f"campaign {self.id} exists already") from None
        return expire_at

    def append_rows(
        self,
        usernames: Sequence[str],
        *,
        first_row: int,
        chunk_size: int,
        expire_at: int,
        extra: dict[str, str | int] | None = None,
    ) -> int:
        """Append ``usernames`` as queued rows from row ``first_row``; returns the new total.

        Raises:
            CampaignLostError: the campaign's meta vanished (Redis lost its data).

        Atomic (MULTI/EXEC) with ``extra`` meta fields, so a resumable producer can store
        its position (e.g. a ListUsers page token) with the rows it produced. One writer per
        campaign: the caller owns ``first_row``.
        """
        if not usernames:
            return first_row
        pipe = self.redis.pipeline(transaction=True)
        row = first_row
        index = 0
        while index < len(usernames):
            chunk, offset = divmod(row, chunk_size)
            take = min(chunk_size - offset, len(usernames) - index)
            blob = "".join(name + "\n" for name in usernames[index : index + take])
            pipe.append(self.keys.users(chunk), blob.encode("utf-8"))
            pipe.expireat(self.keys.users(chunk), expire_at)
            row += take
            index += take
        pipe.setrange(self.keys.rows, row - 1, b"\x00")
        pipe.expireat(self.keys.rows, expire_at)
        pipe.hincrby(self.keys.counts, "queued", len(usernames))
        fields: dict[Any, Any] = {"total": row, "updated_at": time.time(), **(extra or {})}
        args = [part for name, value in fields.items() for part in (name, value)]
        self._scripts["UPDATE"](keys=[self.keys.meta], args=args, client=pipe)
        if not pipe.execute()[-1]:  # meta vanished: the rows are a lost campaign's traces
            raise self._vanished()
        return row

    def finish_ingest(self, *, rejected: int, duplicates: int, case_merged: int = 0) -> None:
        """Mark the input complete: every row is stored, chunks may all be dispatched."""
        self.update_meta(
            ingest="done",
            rejected=rejected,
            duplicates=duplicates,
            case_merged=case_merged,
            updated_at=time.time(),
        )

    def update_meta(self, **fields: str | int | float) -> None:
        """Set ``fields`` of the campaign's meta, never recreating a vanished one.

        Raises:
            CampaignLostError: meta is gone (Redis lost its data); nothing was written.
        """
        args = [part for name, value in fields.items() for part in (name, value)]
        if not self.run("UPDATE", [self.keys.meta], args):
            raise self._vanished()

    def _vanished(self) -> CampaignLostError:
        found = missing(self.redis, self.keys)
        if isinstance(found, CampaignLostError):
            return found
        return CampaignLostError(f"campaign {self.id} is lost: its meta vanished", {})

    def add_rejects(self, rejects: Iterable[tuple[int, str]], *, expire_at: int) -> None:
        """Keep rejected input rows ``(line, reason)`` for the report."""
        blob = "".join(
            f"{line}\t{reason.replace(chr(9), ' ').replace(chr(10), ' ')}\n"
            for line, reason in rejects
        )
        if blob:
            self.redis.append(self.keys.rejects, blob.encode("utf-8"))
            self.redis.expireat(self.keys.rejects, expire_at)

    def rejects(self) -> list[tuple[int, str]]:
        """The rejected input rows kept for the report, ``(line, reason)`` in input order."""
        blob = cast("bytes | None", self.redis.get(self.keys.rejects)) or b""
        found = []
        for record in blob.decode("utf-8").split("\n")[:-1]:
            line, _, reason = record.partition("\t")
            found.append((int(line), reason))
        return found

    # --- reading ------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The ``meta`` hash as text.

        Raises:
            CampaignNotFoundError: no such campaign (never created, or expired).
            CampaignLostError: its keys are gone or partial (:mod:`worker.campaign.lost`).
        """
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(self.keys.meta))
        if not raw:
            raise missing(self.redis, self.keys)
        meta = {k.decode(): v.decode("utf-8") for k, v in raw.items()}
        check_meta(self.keys, meta, {})
        return meta

    def chunk_usernames(self, chunk: int) -> list[str]:
        """The usernames of chunk ``chunk``, in row order."""
        blob = cast("bytes | None", self.redis.get(self.keys.users(chunk))) or b""
        return blob.decode("utf-8").split("\n")[:-1]

    def row_states(self, start: int, length: int) -> bytes:
        """The state bytes of rows ``[start, start + length)``."""
        return cast("bytes", self.redis.getrange(self.keys.rows, start, start + length - 1))

    def batch_rows(self, batch_id: str) -> list[int]:
        """The row numbers of retry batch ``batch_id``."""
        blob = cast("bytes | None", self.redis.get(self.keys.batch(batch_id))) or b""
        return [int(part) for part in blob.split(b",") if part]

    def row_redeliveries(self) -> dict[int, int]:
        """Rows sent again because their holder stopped mid-send: row -> times (sparse)."""
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(self.keys.redeliveries))
        return {int(row): int(times) for row, times in raw.items()}

    def outcomes(self, chunk: int) -> bytes:
        """Chunk ``chunk``'s outcome records, oldest first."""
        return cast("bytes | None", self.redis.get(self.keys.outcomes(chunk))) or b""

    def status(
        self, *, share: Share | None = None, reads: ShareReads | None = None
    ) -> dict[str, Any]:
        """The campaign status document (DESIGN.md), from one MULTI snapshot (~0.3 ms).

        ``share``: the campaign's current part of the bulk rate (None: it takes no permits
        now), shown as ``share`` beside its ``weight`` and used by the ETA; or ``reads``
        queues the limiter's reads of it on the same MULTI and returns their reader.

        Raises:
            CampaignNotFoundError: no such campaign (never created, or expired).
            CampaignLostError: its keys are gone or partial; its ``document`` is the status
                document with ``state`` ``lost``.
        """
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.keys.meta)
        pipe.hgetall(self.keys.counts)
        pipe.hgetall(self.keys.rate)
        pipe.zrange(self.keys.deferred, -1, -1, withscores=True)
        pipe.time()
        read_share = reads(pipe) if reads is not None else None
        raw_meta, raw_counts, raw_rate, last_due, (seconds, micros), *shared = pipe.execute()
        found = read_share(shared) if read_share is not None else None
        share = Share(*found) if found is not None else (None if read_share else share)
        if not raw_meta:
            raise missing(self.redis, self.keys)
        meta = {k.decode(): v.decode("utf-8") for k, v in raw_meta.items()}
        counts = dict.fromkeys(COUNTED_STATES, 0)
        counts.update({k.decode(): int(v) for k, v in raw_counts.items()})
        check_meta(self.keys, meta, counts)
        now = seconds + micros / 1e6
        state = document_state(meta)
        if state != "running":
            share = None  # a paused or finished campaign's last requests do not count
        figures = Figures(meta, counts, now, share)
        rate = figures.rate(raw_rate, finished=state in ("done", "cancelled"))
        eta = figures.eta_seconds(state, rate, float(last_due[0][1]) if last_due else None)
        return {
            "id": self.id,
            "name": meta.get("name", self.id),
            "state": state,
            "total": int(meta.get("total", 0)),
            "counts": counts,
            "rejected": int(meta.get("rejected", 0)),
            "rate": round(rate, 2),
            "weight": float(meta.get("weight", 1.0)),
            "share": share.as_dict() if share is not None else dict(NO_SHARE),
            "eta_seconds": None if eta is None else round(eta, 1),
            "duration_seconds": round(figures.duration_seconds(), 3),
            "pause_reason": json.loads(meta["pause_reason"]) if meta.get("pause_reason") else None,
            "created_at": iso(float(meta["created_at"])),
            "updated_at": iso(float(meta["updated_at"])),
            "redelivered": int(meta.get("redelivered", 0)),
            "duplicates": int(meta.get("duplicates", 0)),
            "case_merged": int(meta.get("case_merged", 0)),
            "principal": meta.get("principal"),
        }

    # --- control ------------------------------------------------------------------------

    def set_state(self, new: str, *, allowed_from: Iterable[str]) -> str:
        """Set the control state to ``new`` if it is one of ``allowed_from``; returns the old.

        Raises:
            CampaignNotFoundError: no such campaign.
        """
        allowed = set(allowed_from)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self.keys.meta)  # type: ignore[no-untyped-call]
                    old = _text(cast("bytes | None", pipe.hget(self.keys.meta, "state")))
                    if old is None:
                        raise missing(self.redis, self.keys)
                    finished = pipe.hexists(self.keys.meta, "finished_at")
                    if old not in allowed or (finished and new != old):
                        pipe.unwatch()
                        return old
                    pipe.multi()
                    pipe.hset(self.keys.meta, mapping={"state": new, "updated_at": time.time()})
                    pipe.execute()
                    return old
                except redis.WatchError:
                    continue

    def resume(self) -> bool:
        """Make a paused campaign active again, clearing its ``pause_reason`` and the run
        detector's memory; returns whether it was paused.

        Raises:
            CampaignNotFoundError: no such campaign.
        """
        if self.set_state("active", allowed_from={"paused"}) != "paused":
            return False
        self.redis.hdel(self.keys.meta, "pause_reason")
        self.redis.delete(self.keys.run)
        return True

    def cancel(self) -> None:
        """Cancel an active or paused campaign: every row not sent yet becomes ``cancelled``.

        Rows in flight finish and keep their outcome; a finished campaign is left as it is.

        Raises:
            CampaignNotFoundError: no such campaign.
        """
        if self.set_state("cancelled", allowed_from={"active", "paused"}) != "cancelled":
            self.sweep(chunk_size=int(self.meta()["chunk_size"]), with_running=False)

    # --- pool listing -------------------------------------------------------------------

    def ingest_generation(self) -> str | None:
        """The id of the ingest task generation now listing the pool (None: none)."""
        return _text(cast("bytes | None", self.redis.hget(self.keys.meta, "ingest_gen")))

    def hand_ingest_to(self, generation: str) -> None:
        """Make ``generation`` the one ingest task generation allowed to list the pool."""
        self.update_meta(ingest_gen=generation)

    def fail_ingest(self, message: str) -> None:
        """End the listing early with ``message`` (kept in the meta); rows listed stay."""
        self.update_meta(ingest_error=message)
        self.finish_ingest(rejected=int(self.meta().get("rejected", 0)), duplicates=0)

    def sweep(self, *, chunk_size: int, with_running: bool) -> int:
        """Cancel every queued and deferred row, one chunk per script call; returns how many.

        ``with_running`` also cancels running rows: only when no task holds a lease.
        """
        total = int(self.redis.hget(self.keys.meta, "total") or 0)
        changed = 0
        for start in range(0, total, chunk_size):
            changed += int(
                self.run(
                    "SWEEP",
                    [self.keys.rows, self.keys.counts],
                    [start, chunk_size, int(with_running)],
                )
            )
        self.redis.delete(self.keys.deferred)
        return changed
