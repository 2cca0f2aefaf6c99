"""The chunk task's loop: claim a few open rows, send each, record their outcomes.

A row goes queued -> running -> terminal in Lua (:mod:`worker.campaign.scripts`), so a
redelivered member skips settled rows; a row found running by a new holder was in flight
when the old one died: it is sent again and counted (``redelivered``). Rows are claimed,
guarded (one ``reserve_many`` for the batch) and recorded a batch at a time, one script
call each: 4 rows at first, doubling while rows settle within 10 ms each, up to
``claim_rows``, which bounds what may repeat after a crash to that many rows per member.
Rows paced by the limiter stay at 4 a batch, so pause and cancel wait for few rows.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import redis

from worker.campaign.engine import Dispatcher, Tuning, pump
from worker.campaign.model import CODE_BY_STATE, DEFERRED
from worker.campaign.store import CampaignStore
from worker.delivery import USER_CAP_CODE, Outcome, ResendRequest, deliver
from worker.errors import CampaignNotFoundError
from worker.liveness import Lease, patiently
from worker.ratelimit.base import Priority
from worker.userguard import GuardDecision

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["FAST_ROW_SECONDS", "FIRST_CLAIM_ROWS", "run_member"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CHUNK_CODES = (1, 0)  # (running code, claimable code) for a chunk member
_BATCH_CODES = (7, 6)  # for a retry batch of deferred rows
_STOPS = {-1: "gone", -2: "lost", -3: "paused", -4: "cancelled"}
FIRST_CLAIM_ROWS = 4
"""Rows a member claims in its first script call (and at least, while rows are slow)."""
FAST_ROW_SECONDS = 0.01
"""Rows settling faster than this each double the next batch, up to ``Tuning.claim_rows``."""


def run_member(
    runtime: Runtime, store: CampaignStore, member: str, token: str, dispatcher: Dispatcher
) -> str:
    """Send the open rows of ``member`` as the holder ``token``; returns what happened.

    ``done`` (member finished), ``sliced`` (gave the thread back; requeued), ``paused``,
    ``cancelled``, ``lost`` (another task holds it now), ``busy``, ``stale``, ``gone``.
    While it runs, the process's heartbeat renews the member's lease (a short one,
    COURIER_LEASE_SECONDS), however long a delivery takes. When Redis goes away, each step
    waits for it (COURIER_REDIS_WAIT_MAX_SECONDS at most) and goes on where it was.

    Raises:
        redis.RedisError: Redis stayed away longer than that: the heartbeat stops, the
            lease runs out and the reaper hands the member on.
    """
    holder = _Holder(runtime, store, member, token)
    keys = store.keys
    try:
        meta = holder.patient(store.meta)
    except CampaignNotFoundError:
        return "gone"
    tuning = Tuning.from_meta(meta)
    args = [member, token, tuning.lease_seconds]
    taken = int(
        holder.patient(lambda: store.run("TAKE", [keys.leases, keys.owners, keys.meta], args))
    )
    if taken != 1:
        return {0: "busy", 2: "stale", -1: "gone"}[taken]
    renew = partial(store.renew, member, token, tuning.lease_seconds)
    with runtime.heartbeat.holding(Lease(f"campaign {store.id} {member}", renew)):
        result = holder.send_rows(meta, tuning)
        if result in ("lost", "gone"):
            return result
        requeue = result in ("sliced", "paused")
        release = [member, token, int(requeue), meta["expire_at"]]
        holder.patient(
            lambda: store.run("RELEASE", [keys.leases, keys.owners, keys.requeue], release)
        )
    if member.startswith("b:") and not requeue:
        holder.patient(lambda: store.redis.delete(keys.batch(member[2:])))
    holder.patient(lambda: pump(store, dispatcher))
    return result


class _Holder:
    """One chunk task holding one member: its loop, each Redis step waiting out outages."""

    def __init__(self, runtime: Runtime, store: CampaignStore, member: str, token: str):
        self.runtime, self.store, self.member, self.token = runtime, store, member, token
        self._within = runtime.settings.redis_wait_max_seconds
        self._what = f"campaign {store.id} {member}"

    def patient(self, action: Callable[[], T]) -> T:
        """Run a Redis step that is safe to repeat, waiting for Redis within the bound."""
        return patiently(self.store.redis, action, within_seconds=self._within, what=self._what)

    def send_rows(self, meta: dict[str, str], tuning: Tuning) -> str:
        """Claim a batch, send it, record it, until done, sliced or told to stop."""
        store, member = self.store, self.member
        rows = self.patient(lambda: _member_rows(store, member, int(meta["chunk_size"])))
        deadline = time.monotonic() + tuning.slice_seconds
        names: dict[int, list[str]] = {}
        client_id = meta["client_id"]
        metadata = json.loads(meta["client_metadata"]) if meta.get("client_metadata") else None
        start, size = 0, min(FIRST_CLAIM_ROWS, tuning.claim_rows)
        while start < len(rows):
            began = time.monotonic()
            if began > deadline:
                return "sliced"
            batch = rows[start : start + size]
            start += len(batch)
            claimed = self.patient(partial(_claim, store, member, self.token, tuning, batch))
            requests = []
            for row, code in zip(batch, claimed, strict=False):
                if code <= 0:
                    continue
                if code == 2:
                    log.warning(
                        "campaign %s: row %d was in flight at a crash; again", store.id, row
                    )
                name = self.patient(partial(_username, store, meta, names, row))
                requests.append((row, ResendRequest(client_id, name, None, metadata)))
            if requests:
                outcomes = self.send_all(requests)
                self.patient(partial(_record, store, meta, tuning, member, outcomes))
            if claimed and claimed[-1] < 0:
                return _STOPS[claimed[-1]]
            per_row = (time.monotonic() - began) / len(batch)
            size = _next_claim_size(size, per_row, tuning.claim_rows)
        return "done"

    def send_all(self, requests: list[tuple[int, ResendRequest]]) -> list[tuple[int, Outcome]]:
        """Send claimed rows in turn; the per-user guard is asked for all of them at once.

        One ``reserve_many`` round trip instead of one per row; each row's decision is its
        first attempt's (a retry asks the guard again), so no call goes out unguarded. A row
        whose delivery meets a Redis failure (the limiter, the guard) waits for Redis and
        is delivered again: nothing had left for it, or only a throttled call.
        """
        operation = ResendRequest.operation
        clients = self.runtime.clients
        user_keys = [r.user_key(clients) for _, r in requests]
        legacy_keys = [r.legacy_user_key() for _, r in requests]
        decisions = self.patient(
            partial(self.runtime.guard.reserve_many, operation, user_keys, legacy_keys=legacy_keys)
        )
        return [
            (row, self.patient(partial(_send, self.runtime, self.store.id, request, decision)))
            for (row, request), decision in zip(requests, decisions, strict=True)
        ]


def _next_claim_size(size: int, seconds_per_row: float, most: int) -> int:
    """Double the batch while rows settle under ``FAST_ROW_SECONDS`` each, else halve it.

    Fast rows (no budget in the way) are claimed up to ``most`` at a time, so the claim,
    guard and record round trips are spread over many rows and a batch still settles
    within ``most * FAST_ROW_SECONDS``; rows paced by the limiter stay at
    ``FIRST_CLAIM_ROWS``, so a pause or a cancel waits for few rows in flight.
    """
    if seconds_per_row < FAST_ROW_SECONDS:
        return min(most, size * 2)
    return max(min(FIRST_CLAIM_ROWS, most), size // 2)


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


def _send(
    runtime: Runtime, campaign_id: str, request: ResendRequest, reserved: GuardDecision
) -> Outcome:
    try:
        return deliver(runtime, request, priority=Priority.BULK, reserved=reserved)
    except redis.RedisError:
        raise  # the holder waits for Redis and delivers the row again
    except Exception as exc:
        log.exception("campaign %s: unexpected fault sending a row", campaign_id)
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
