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
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from worker.campaign import account
from worker.campaign.engine import Dispatcher, Tuning, pump
from worker.campaign.lost import mark_lost
from worker.campaign.model import (
    CODE_BY_STATE,
    DEFERRED,
    QUEUED,
    RUNNING,
    RUNNING_BATCH,
    SKIPPED,
    STATE_BY_CODE,
    Claim,
    MemberResult,
    Take,
)
from worker.campaign.store import CampaignStore
from worker.delivery import USER_CAP_CODE, Outcome, ResendRequest, deliver
from worker.errors import CampaignNotFoundError, Concern
from worker.guard import GuardDecision
from worker.liveness.heartbeat import SHUTTING_DOWN, Lease, patiently
from worker.observe.rows import SettledRow, row_context, rows_recorded
from worker.progress import Progress
from worker.ratelimit.base import Priority
from worker.ratelimit.shares import CampaignShare

if TYPE_CHECKING:
    from worker.runtime import Runtime

__all__ = ["FAST_ROW_SECONDS", "FIRST_CLAIM_ROWS", "run_member"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CHUNK_OPEN = frozenset({QUEUED, RUNNING})  # the row codes a chunk member still has to send
_BATCH_OPEN = frozenset({DEFERRED, RUNNING_BATCH})  # and a retry batch
_STOPS: dict[int, MemberResult] = {
    Claim.GONE: MemberResult.GONE,
    Claim.LOST: MemberResult.LOST,
    Claim.PAUSED: MemberResult.PAUSED,
    Claim.CANCELLED: MemberResult.CANCELLED,
}
_NOT_TAKEN: dict[Take, MemberResult] = {
    Take.BUSY: MemberResult.BUSY,
    Take.STALE: MemberResult.STALE,
    Take.GONE: MemberResult.GONE,
}
FIRST_CLAIM_ROWS = 4
"""Rows a member claims in its first script call (and at least, while rows are slow)."""
FAST_ROW_SECONDS = 0.01
"""Rows settling faster than this each double the next batch, up to ``Tuning.claim_rows``."""


def run_member(
    runtime: Runtime, store: CampaignStore, member: str, token: str, dispatcher: Dispatcher
) -> MemberResult:
    """Send the open rows of ``member`` as the holder ``token``; returns how it ended.

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
        return MemberResult.GONE
    tuning = Tuning.from_meta(meta)
    args = [member, token, tuning.lease_seconds]
    taken = Take(
        int(holder.patient(lambda: store.run("TAKE", [keys.leases, keys.owners, keys.meta], args)))
    )
    if taken is not Take.TAKEN:
        if taken is Take.GONE:
            holder.patient(lambda: mark_lost(store.redis, keys, meta))  # vanished under it
        return _NOT_TAKEN[taken]
    renew = partial(store.renew, member, token, tuning.lease_seconds)
    with runtime.heartbeat.holding(Lease(f"campaign {store.id} {member}", renew)):
        result = holder.send_rows(meta, tuning)
        if result is MemberResult.GONE:
            holder.patient(lambda: mark_lost(store.redis, keys, meta))
        if result in (MemberResult.LOST, MemberResult.GONE):
            return result
        requeue = result in (MemberResult.SLICED, MemberResult.PAUSED)
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
        self.share = CampaignShare(store.id)  # its weight is read with the meta

    def patient(self, action: Callable[[], T]) -> T:
        """Run a Redis step that is safe to repeat, waiting for Redis within the bound."""
        return patiently(self.store.redis, action, within_seconds=self._within, what=self._what)

    def send_rows(self, meta: dict[str, str], tuning: Tuning) -> MemberResult:
        """Claim a batch, send it, record it, until done, sliced or told to stop."""
        store, member = self.store, self.member
        self.share = CampaignShare(store.id, float(meta.get("weight", 1.0)))
        rows = self.patient(lambda: _member_rows(store, member, int(meta["chunk_size"])))
        deadline = time.monotonic() + tuning.slice_seconds
        names: dict[int, list[str]] = {}
        client_id = meta["client_id"]
        metadata = json.loads(meta["client_metadata"]) if meta.get("client_metadata") else None
        start, size = 0, min(FIRST_CLAIM_ROWS, tuning.claim_rows)
        while start < len(rows):
            began = time.monotonic()
            if began > deadline or (start > 0 and SHUTTING_DOWN.is_set()):
                # requeued: another task (or worker) goes on from here; a stopping worker
                # hands back after one batch (at least one, so there is always progress)
                return MemberResult.SLICED
            batch = rows[start : start + size]
            start += len(batch)
            claimed = self.patient(partial(_claim, store, member, self.token, tuning, batch))
            requests = []
            for row, code in zip(batch, claimed, strict=False):
                if code <= Claim.NOTHING:
                    continue
                if code == Claim.CLAIMED_AGAIN:
                    log.warning(
                        "campaign %s: row %d was in flight at a crash; again", store.id, row
                    )
                name = self.patient(partial(_username, store, meta, names, row))
                requests.append((row, ResendRequest(client_id, name, None, metadata)))
            if requests:
                sent = self.send_all(requests)
                names_logged = self.runtime.settings.log_usernames
                self.patient(
                    partial(_record, store, meta, tuning, member, sent, log_usernames=names_logged)
                )
                if sent.pause_reason is not None:
                    self.stop_for_account(meta, sent)
                    return MemberResult.PAUSED
            if claimed and claimed[-1] < Claim.NOTHING:
                return _STOPS[claimed[-1]]
            per_row = (time.monotonic() - began) / len(batch)
            size = _next_claim_size(size, per_row, tuning.claim_rows)
        return MemberResult.DONE

    def send_all(self, requests: list[tuple[int, ResendRequest]]) -> Sent:
        """Send claimed rows in turn; the per-user guard is asked for all of them at once.

        One ``reserve_many`` round trip instead of one per row; each row's decision is its
        first attempt's (a retry asks the guard again), so no call goes out unguarded. A row
        whose delivery meets a Redis failure (the limiter, the guard) waits for Redis and
        is delivered again: nothing had left for it, or only a throttled call.

        Answers about the account (:mod:`worker.campaign.account`) stop the batch: that
        row, the rest of the batch (never sent) and, for a run, this batch's rows in the
        run go back with their guard slots released, and ``pause_reason`` says why.
        Cognito's per-user cap teaches the guard the calls it did not see.
        """
        operation = ResendRequest.operation
        guard = self.runtime.guard
        clients = self.runtime.clients
        user_keys = [r.user_key(clients) for _, r in requests]
        decisions = self.patient(partial(guard.reserve_many, operation, user_keys))
        sent = Sent()
        hits: list[int] = []  # this batch's rows in a run, by index
        for index, ((row, request), decision) in enumerate(zip(requests, decisions, strict=True)):
            if sent.pause_reason is not None:  # not sent: it goes back as it is
                if decision.allowed:
                    self.patient(partial(guard.release, operation, user_keys[index]))
                sent.outcomes.append((row, Outcome("skipped", 0)))
                sent.back.add(row)
                continue
            progress = Progress()  # kept if Redis fails mid-delivery and it runs again
            send = partial(_send, self.runtime, self.share, request, decision, progress, row=row)
            outcome = self.patient(send)
            scope = account.classify(outcome)
            if scope.concern is Concern.USER_HOUR:
                wait = self.patient(partial(guard.saturate, operation, user_keys[index]))
                outcome = replace(outcome, retry_after_seconds=wait)
            elif scope.pauses_at_once:
                sent.pause_reason = account.reason(outcome)
                hits = [index]
            elif scope.pause_after_users is not None:
                hits.append(index)
                users = self.patient(partial(account.run_hit, self.store, row))
                if users >= scope.pause_after_users:
                    sent.pause_reason = account.run_reason(outcome, users)
            sent.outcomes.append((row, outcome))
            if sent.pause_reason is not None:
                for hit in hits:
                    self.patient(partial(guard.release, operation, user_keys[hit]))
                    sent.back.add(requests[hit][0])
        return sent

    def stop_for_account(self, meta: dict[str, str], sent: Sent) -> None:
        """Pause the campaign for an account answer. Rows of the run that earlier batches
        (any worker) recorded ``failed`` are first turned back into deferred rows, their
        guard slots released, so the paused campaign shows no row burnt by it."""
        store, guard = self.store, self.runtime.guard
        why = sent.pause_reason
        assert why is not None
        keys = store.keys
        earlier = [r for r in self.patient(partial(account.run_rows, store)) if r not in sent.back]
        reopened: list[int] = []
        if earlier:
            reopened = self.patient(
                lambda: store.run(
                    "REOPEN", [keys.rows, keys.counts, keys.deferred], [meta["expire_at"], *earlier]
                )
            )
        names: dict[int, list[str]] = {}
        for row in reopened:
            name = self.patient(partial(_username, store, meta, names, int(row)))
            request = ResendRequest(meta["client_id"], name)
            key = request.user_key(self.runtime.clients)
            self.patient(partial(guard.release, request.operation, key))
        if self.patient(partial(account.pause_self, store, why)):
            log.warning("campaign %s paused: %s %s", store.id, why["code"], why["message"])


@dataclass
class Sent:
    """What became of a batch: an outcome per row, the rows that go back, and why."""

    outcomes: list[tuple[int, Outcome]] = field(default_factory=list)
    back: set[int] = field(default_factory=set)
    pause_reason: dict[str, Any] | None = None


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
        return [row for row in candidates if set(store.row_states(row, 1)) & _BATCH_OPEN]
    start = int(member[2:]) * size
    states = store.row_states(start, size)
    return [start + i for i, code in enumerate(states) if code in _CHUNK_OPEN]


def _row_codes(member: str) -> tuple[int, int]:
    """The row codes of ``member``'s rows: (held by it, claimable by it).

    A chunk (``c:{n}``) claims queued rows and holds them as running; a retry batch
    (``b:{id}``) claims deferred rows and holds them as running-in-a-batch
    (:mod:`worker.campaign.model`).
    """
    return (RUNNING_BATCH, DEFERRED) if member.startswith("b:") else (RUNNING, QUEUED)


def _claim(
    store: CampaignStore, member: str, token: str, tuning: Tuning, rows: list[int]
) -> list[int]:
    keys = store.keys
    mine, claimable = _row_codes(member)
    result = store.run(
        "CLAIM",
        [keys.meta, keys.rows, keys.counts, keys.leases, keys.owners, keys.redeliveries],
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
    runtime: Runtime,
    share: CampaignShare,
    request: ResendRequest,
    reserved: GuardDecision,
    progress: Progress,
    *,
    row: int,
) -> Outcome:
    campaign_id = share.campaign_id
    try:
        with row_context(row, request.username, log_usernames=runtime.settings.log_usernames):
            return deliver(
                runtime,
                request,
                priority=Priority.BULK,
                reserved=reserved,
                campaign=share,
                progress=progress,
            )
    except redis.RedisError:
        raise  # the holder waits for Redis and delivers the row again
    except Exception as exc:
        log.exception("campaign %s: unexpected fault sending a row", campaign_id)
        return Outcome("failed", 0, error_code="CourierInternalError", error_message=str(exc))


def _one_line(text: str) -> str:
    """``text`` fit for one tab-separated outcome field (tabs and line breaks as spaces)."""
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _record(
    store: CampaignStore,
    meta: dict[str, str],
    tuning: Tuning,
    member: str,
    sent: Sent,
    *,
    log_usernames: bool,
) -> None:
    keys = store.keys
    size = int(meta["chunk_size"])
    defer = meta.get("on_user_cap", "defer") == "defer"
    mine, claimable = _row_codes(member)
    out_keys: list[str] = []
    args: list[object] = [member, tuning.lease_seconds, meta["expire_at"], mine]
    now = time.time()
    settled: list[SettledRow] = []  # logged once recorded
    for row, outcome in sent.outcomes:
        chunk, offset = divmod(row, size)
        out_keys.append(keys.outcomes(chunk))
        if row in sent.back:  # claimable again by its member, no outcome recorded
            args += [row, claimable, "", outcome.attempts, 0]
            continue
        code = CODE_BY_STATE[outcome.state]
        due = 0.0
        if outcome.error_code == USER_CAP_CODE or account.is_user_hour(outcome):
            code = DEFERRED if defer else SKIPPED
            wait = outcome.retry_after_seconds or 60.0
            due = now + wait + random.uniform(0, 1)  # noqa: S311 - jitter, not crypto
        delivery = outcome.delivery or {}
        fields = (
            str(offset),
            str(code),
            outcome.error_code or "",
            delivery.get("DeliveryMedium", ""),
            delivery.get("Destination", ""),
            str(outcome.attempts),
            f"{now:.3f}",  # the report shows the millisecond (worker.campaign.report)
            (outcome.error_message or "")[:500],
            str(outcome.ambiguous),
        )
        record = "\t".join(_one_line(part) for part in fields)
        args += [row, code, record + "\n", outcome.attempts, due]
        settled.append(SettledRow(row, STATE_BY_CODE[code], outcome.error_code, due - now))
    fixed = [keys.meta, keys.rows, keys.counts, keys.leases, keys.rate, keys.deferred, keys.run]
    if int(store.run("RECORD", [*fixed, *out_keys], args)):  # 0: the rows are not ours now
        names = partial(_username, store, meta, {}) if log_usernames else None
        rows_recorded(store.id, settled, username=names)
