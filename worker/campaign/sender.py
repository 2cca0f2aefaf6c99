"""The chunk task's loop: claim a few open rows, send each, record their outcomes.

A row goes queued -> running -> terminal in Lua (:mod:`worker.campaign.scripts`), so a
redelivered member skips settled rows; a row found running by a new holder was in flight
when the old one died: it is sent again and counted (``redelivered``). Rows are claimed
and recorded ``claim_rows`` at a time (one script call each way), which bounds what may
repeat after a crash to that many rows per member.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import TYPE_CHECKING

import redis

from worker.campaign.engine import Dispatcher, Tuning, pump
from worker.campaign.model import CODE_BY_STATE, DEFERRED
from worker.campaign.store import CampaignStore
from worker.delivery import USER_CAP_CODE, Outcome, ResendRequest, deliver
from worker.errors import CampaignNotFoundError
from worker.ratelimit.base import Priority

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["run_member"]

log = logging.getLogger(__name__)

_CHUNK_CODES = (1, 0)  # (running code, claimable code) for a chunk member
_BATCH_CODES = (7, 6)  # for a retry batch of deferred rows
_STOPS = {-1: "gone", -2: "lost", -3: "paused", -4: "cancelled"}


def run_member(
    runtime: Runtime, store: CampaignStore, member: str, token: str, dispatcher: Dispatcher
) -> str:
    """Send the open rows of ``member`` as the holder ``token``; returns what happened.

    ``done`` (member finished), ``sliced`` (gave the thread back; requeued), ``paused``,
    ``cancelled``, ``lost`` (another task holds it now), ``busy``, ``stale``, ``gone``.

    Raises:
        redis.RedisError: Redis failed; the lease runs out and the member is sent again.
    """
    keys = store.keys
    try:
        meta = store.meta()
    except CampaignNotFoundError:
        return "gone"
    tuning = Tuning.from_meta(meta)
    args = [member, token, tuning.lease_seconds]
    taken = int(store.run("TAKE", [keys.leases, keys.owners, keys.meta], args))
    if taken != 1:
        return {0: "busy", 2: "stale", -1: "gone"}[taken]
    rows = _member_rows(store, member, int(meta["chunk_size"]))
    deadline = time.monotonic() + tuning.slice_seconds
    result = "done"
    names: dict[int, list[str]] = {}
    for start in range(0, len(rows), tuning.claim_rows):
        if time.monotonic() > deadline:
            result = "sliced"
            break
        batch = rows[start : start + tuning.claim_rows]
        claimed = _claim(store, member, token, tuning, batch)
        outcomes = []
        for row, code in zip(batch, claimed, strict=False):
            if code <= 0:
                continue
            if code == 2:
                log.warning("campaign %s: row %d was in flight at a crash; again", store.id, row)
            outcomes.append((row, _send(runtime, meta, _username(store, meta, names, row))))
        if outcomes:
            _record(store, meta, tuning, member, outcomes)
        if claimed and claimed[-1] < 0:
            result = _STOPS[claimed[-1]]
            break
    if result not in ("lost", "gone"):
        requeue = result in ("sliced", "paused")
        store.run(
            "RELEASE",
            [keys.leases, keys.owners, keys.requeue],
            [member, token, int(requeue), meta["expire_at"]],
        )
        if member.startswith("b:") and not requeue:
            store.redis.delete(keys.batch(member[2:]))
        pump(store, dispatcher)
    return result


def _member_rows(store: CampaignStore, member: str, size: int) -> list[int]:
    """The open rows of ``member`` (settled ones are skipped without a script call)."""
    if member.startswith("b:"):
        candidates = store.batch_rows(member[2:])
        return [row for row in candidates if store.row_states(row, 1) in (b"\x06", b"\x07")]
    start = int(member[2:]) * size
    states = store.row_states(start, size)
    return [start + i for i, code in enumerate(states) if code in (0, 1)]


def _claim(
    store: CampaignStore, member: str, token: str, tuning: Tuning, rows: list[int]
) -> list[int]:
    keys = store.keys
    mine, claimable = _BATCH_CODES if member.startswith("b:") else _CHUNK_CODES
    result = store.run(
        "CLAIM",
        [keys.meta, keys.rows, keys.counts, keys.leases, keys.owners],
        [member, token, tuning.lease_seconds, mine, claimable, *rows],
    )
    return [int(code) for code in result]


def _username(
    store: CampaignStore, meta: dict[str, str], cache: dict[int, list[str]], row: int
) -> str:
    chunk, offset = divmod(row, int(meta["chunk_size"]))
    if chunk not in cache:
        cache[chunk] = store.chunk_usernames(chunk)
    return cache[chunk][offset]


def _send(runtime: Runtime, meta: dict[str, str], username: str) -> Outcome:
    metadata = json.loads(meta["client_metadata"]) if meta.get("client_metadata") else None
    request = ResendRequest(meta["client_id"], username, None, metadata)
    try:
        return deliver(runtime, request, priority=Priority.BULK)
    except redis.RedisError:
        raise  # nothing can be recorded: the lease runs out and the row is sent again
    except Exception as exc:
        log.exception("campaign %s: unexpected fault sending a row", meta.get("id"))
        return Outcome("failed", 0, error_code="CourierInternalError", error_message=str(exc))


def _record(
    store: CampaignStore,
    meta: dict[str, str],
    tuning: Tuning,
    member: str,
    outcomes: list[tuple[int, Outcome]],
) -> None:
    keys = store.keys
    size = int(meta["chunk_size"])
    defer = meta.get("on_user_cap", "defer") == "defer"
    mine = _BATCH_CODES[0] if member.startswith("b:") else _CHUNK_CODES[0]
    out_keys: list[str] = []
    args: list[object] = [member, tuning.lease_seconds, meta["expire_at"], mine]
    now = time.time()
    for row, outcome in outcomes:
        code = CODE_BY_STATE[outcome.state]
        due = 0.0
        if outcome.error_code == USER_CAP_CODE and defer:
            code = DEFERRED
            wait = outcome.retry_after_seconds or 60.0
            due = now + wait + random.uniform(0, 1)  # noqa: S311 - jitter, not crypto
        chunk, offset = divmod(row, size)
        delivery = outcome.delivery or {}
        fields = (
            str(offset),
            str(code),
            outcome.error_code or "",
            delivery.get("DeliveryMedium", ""),
            delivery.get("Destination", ""),
            str(outcome.attempts),
            str(int(now)),
        )
        record = "\t".join(part.replace("\t", " ").replace("\n", " ") for part in fields)
        out_keys.append(keys.outcomes(chunk))
        args += [row, code, record + "\n", outcome.attempts, due]
    fixed = [keys.meta, keys.rows, keys.counts, keys.leases, keys.rate, keys.deferred]
    store.run("RECORD", [*fixed, *out_keys], args)
