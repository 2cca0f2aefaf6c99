"""Bulk resend campaigns: the Celery tasks (queue ``bulk``) and the producer API.

    from tasks.campaigns import start_campaign, campaign_status
    doc = start_campaign("3n4b5urk1ft4fl3mg5e62d9ado", file="unconfirmed.csv")
    print(campaign_status(doc["id"])["counts"])

Tasks: ``courier.campaign_chunk`` sends one member's rows (a chunk of up to 1,000 users or a
retry batch), ``courier.campaign_ingest`` lists a user pool page by page. No timer task:
every worker's watchdog pumps live campaigns (:mod:`worker.liveness.watchdog`). Who a
campaign reaches is :mod:`worker.campaign.selection`; pacing and crash recovery are
:mod:`worker.campaign.engine`; rows and control are :class:`~worker.campaign.store.CampaignStore`.
"""

from __future__ import annotations

import json
import uuid
from functools import partial
from pathlib import Path
from typing import IO, Any

from celery import Task
from redis.exceptions import NoScriptError

from worker.app import app
from worker.broker.door import at_the_door
from worker.campaign.dispatch import CHUNK_TASK, INGEST_TASK, CeleryDispatcher
from worker.campaign.engine import pump
from worker.campaign.ingest import CampaignOptions, estimate_seconds, ingest_pool_step
from worker.campaign.model import DEFAULT_CHUNK_SIZE, MAX_REJECTS_SHOWN, OnUserCap
from worker.campaign.report import write_report
from worker.campaign.selection import Selection, dry_run_document
from worker.campaign.sender import run_member
from worker.campaign.sources import DEFAULT_POOL_FILTER, FileFormat
from worker.campaign.store import CampaignStore, list_campaign_ids
from worker.errors import (
    CampaignError,
    CampaignLostError,
    CampaignNotFoundError,
    CampaignStateError,
    NothingToSendError,
    RowsFailedError,
)
from worker.observe.rows import tallying
from worker.ratelimit.base import Category
from worker.ratelimit.shares import check_weight
from worker.runtime import get_runtime
from worker.validation import check_client_id, check_client_metadata, check_job_id

__all__ = [
    "campaign_chunk",
    "campaign_ingest",
    "campaign_status",
    "cancel_campaign",
    "list_campaigns",
    "pause_campaign",
    "resume_campaign",
    "start_campaign",
    "write_campaign_report",
]


DISPATCHER = CeleryDispatcher(app)


def _document(store: CampaignStore) -> dict[str, Any]:
    """The campaign status document with the campaign's current share of the bulk rate,
    read in the same MULTI as the rest (one round trip; a Redis that lost the limiter's
    scripts answers NOSCRIPT: they are loaded and the read made again)."""
    limiters = get_runtime().limiters
    reads = partial(limiters.queue_campaign_share, Category.USER_RESOURCE_READ, store.id)
    try:
        return store.status(reads=reads)
    except NoScriptError:
        limiters.load_scripts()
        return store.status(reads=reads)


def _require_state(store: CampaignStore, action: str, states: set[str]) -> None:
    """Raise CampaignStateError unless the campaign's document state is one of ``states``."""
    state = store.status()["state"]
    if state not in states:
        allowed = " or ".join(sorted(states))
        raise CampaignStateError(
            f"campaign {store.id} is {state}: {action} applies only to a campaign that is "
            f"{allowed}; nothing was changed"
        )


def _store(campaign_id: str) -> CampaignStore:
    """The store of ``campaign_id``; InvalidRequestError when the id is not a 1-64 string."""
    return CampaignStore(get_runtime().redis, check_job_id(campaign_id, field="campaign_id"))


# --- tasks -------------------------------------------------------------------------------


@app.task(name=CHUNK_TASK, bind=True, throws=(RowsFailedError,))
def campaign_chunk(self: Task[Any, Any], campaign_id: str, member: str) -> str:
    """Send the open rows of ``member`` (``c:{chunk}`` or ``b:{batch}``).

    Returns the summary of the rows this task recorded and how the member ended (a
    :class:`~worker.campaign.model.MemberResult`), Celery's result, so Flower shows it:
    ``16 rows: 16 succeeded``, ``4 rows: 2 succeeded, 2 deferred (LimitExceededException);
    sliced``.

    Raises:
        RowsFailedError: some rows ended ``failed`` (recorded first); its message is the
            same summary. The task is a FAILURE in Celery and Flower, the campaign goes on.
    """
    runtime = get_runtime()
    store = CampaignStore(runtime.redis, campaign_id)
    with tallying() as tally:
        result = run_member(runtime, store, member, str(self.request.id), DISPATCHER)
    summary = tally.summary(result.value)
    if tally.failed:
        raise RowsFailedError(summary)
    return summary


@app.task(name=INGEST_TASK)
def campaign_ingest(campaign_id: str, generation: str) -> None:
    """List the campaign's pool for a while, then hand over to the next generation."""
    runtime = get_runtime()
    store = CampaignStore(runtime.redis, campaign_id)
    if store.ingest_generation() != generation:
        return  # a stale copy (redelivered after its successor was sent)
    budget = max(5.0, runtime.settings.visibility_timeout_seconds / 3)
    try:
        pool = json.loads(store.meta()["source"]).get("user_pool_id")
        limiter = runtime.limiter_for_pool(pool)  # ListUsers counts in the pool's Region
        complete = ingest_pool_step(store, runtime.gateway, limiter, budget_seconds=budget)
    except CampaignError as exc:
        store.fail_ingest(str(exc))  # keep what was listed; the error is in the meta
        return
    if not complete:
        successor = uuid.uuid4().hex
        DISPATCHER.ingest(campaign_id, successor)
        store.hand_ingest_to(successor)
    pump(store, DISPATCHER)


# --- producer API ------------------------------------------------------------------------


@at_the_door
def start_campaign(
    client_id: str,
    *,
    file: str | Path | None = None,
    user_pool_id: str | None = None,
    filter_expression: str = DEFAULT_POOL_FILTER,
    name: str | None = None,
    dry_run: bool = False,
    on_user_cap: OnUserCap = "defer",
    client_metadata: dict[str, str] | None = None,
    file_format: FileFormat | None = None,
    data: bytes | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    window: int | None = None,
    lease_seconds: float | None = None,
    case_sensitive: bool | None = None,
    weight: float = 1.0,
    campaign_id: str | None = None,
    principal: str | None = None,
) -> dict[str, Any]:
    """Start a campaign that resends a confirmation code to every listed user.

    ``weight`` (0.01 to 100, default 1) is its part of the bulk share beside the other
    running campaigns: they split the bulk rate in proportion to their weights.
    ``campaign_id`` is the id to create it under (default: a fresh one), so a caller that
    is interrupted while it stores the rows knows which campaign to cancel.

    Users come from ``file`` (a path, ``-`` for standard input, or ``data`` bytes; CSV,
    JSON or text, see docs/campaigns.md) or else from ``user_pool_id`` filtered by
    ``filter_expression`` (with a file, ``user_pool_id`` serves the preflight check:
    the default e-mail sender's daily limit and the pool's username case sensitivity).
    File rows that differ only in letter case are merged unless ``case_sensitive`` is
    True or the pool is described as case-sensitive. Returns the start document: the
    campaign status document plus ``rejects`` (first 1,000), ``duplicates``,
    ``case_merged``, ``case_sensitive``, ``reachable_today`` (users the default e-mail
    sender can reach today, null when no cap is known), ``warnings`` and, for a dry run
    (nothing stored or sent; ``id`` null), ``estimated_seconds`` at the bulk share of the
    current adaptive rate. ``principal`` names the HTTP front's API principal that asked
    (recorded, and shown as ``principal``; None from the Python API and the CLI).

    Raises:
        InvalidRequestError: a bad client id or client metadata.
        NothingToSendError: the file or the pool selection holds no usable user (no
            campaign is created; ``document`` holds the rejects, dry run or not).
        CampaignError: a ``campaign_id`` in use, no source, a ``user_pool_id`` other than
            the one COURIER_CLIENTS lists for ``client_id``, an unreadable file or one in
            an encoding that is not accepted, a CSV without a user column, or (pool) no
            IAM credentials.
    """
    client_id = check_client_id(client_id)
    client_metadata = check_client_metadata(client_metadata)
    if campaign_id is not None:
        campaign_id = check_job_id(campaign_id, field="campaign_id")
    try:
        weight = check_weight(weight)  # before a large file is read
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    runtime = get_runtime()
    mismatch = (
        None if user_pool_id is None else runtime.clients.pool_mismatch(client_id, user_pool_id)
    )
    if mismatch is not None:
        raise CampaignError(mismatch)
    selection = Selection.gather(
        runtime,
        client_id=client_id,
        file=file,
        data=data,
        file_format=file_format,
        user_pool_id=user_pool_id,
        filter_expression=filter_expression,
        case_sensitive=case_sensitive,
        dry_run=dry_run,
    )
    options = CampaignOptions(
        client_id=client_id,
        name=name,
        on_user_cap=on_user_cap,
        client_metadata=client_metadata,
        chunk_size=chunk_size,
        window=window,
        lease_seconds=lease_seconds,
        source=selection.source,
        weight=weight,
        principal=principal,
    )
    intake = selection.intake
    rejects = [r.as_dict() for r in intake.rejects[:MAX_REJECTS_SHOWN]]
    extra = selection.figures()
    if dry_run or not selection.names:
        document = {**dry_run_document(options, intake), "rejects": rejects, **extra}
        if dry_run:
            limiter = runtime.limiter_for_client(client_id)
            bulk_rate = limiter.state(Category.USER_RESOURCE_READ).bulk_rate_per_second
            document["estimated_seconds"] = estimate_seconds(intake.accepted, bulk_rate)
            document["bulk_rate_per_second"] = round(bulk_rate, 3)
            document["dry_run"] = True
        if intake.accepted == 0:
            raise NothingToSendError(selection.nothing_message(), document)
        return document
    store = selection.launch(runtime, DISPATCHER, options, campaign_id=campaign_id)
    return {**_document(store), "rejects": rejects, **extra}


@at_the_door
def campaign_status(campaign_id: str) -> dict[str, Any]:
    """The campaign status document (DESIGN.md) plus ``redelivered``.

    Raises:
        CampaignNotFoundError: no such campaign (never created, or expired).
        CampaignLostError: its keys are gone or partial (Redis lost its data); its
            ``document`` has ``state`` ``lost``.
    """
    return _document(_store(campaign_id))


@at_the_door
def pause_campaign(campaign_id: str) -> dict[str, Any]:
    """Stop sending new rows (rows in flight finish); returns the status document.

    Raises:
        CampaignNotFoundError: no such campaign.
        CampaignStateError: it is not ingesting or running (paused already, or ended).
    """
    store = _store(campaign_id)
    _require_state(store, "pause", {"ingesting", "running"})
    store.set_state("paused", allowed_from={"active"})
    return _document(store)


@at_the_door
def resume_campaign(campaign_id: str) -> dict[str, Any]:
    """Send again after a pause (the operator's, or one the campaign took itself for an
    account answer: its ``pause_reason`` is cleared); returns the status document.

    Raises:
        CampaignNotFoundError: no such campaign.
        CampaignStateError: it is not paused.
    """
    store = _store(campaign_id)
    _require_state(store, "resume", {"paused"})
    if store.resume():
        pump(store, DISPATCHER)
    return _document(store)


@at_the_door
def cancel_campaign(campaign_id: str) -> dict[str, Any]:
    """Cancel: every row not sent yet becomes ``cancelled``; returns the status document.

    Rows in flight finish and keep their outcome.

    Raises:
        CampaignNotFoundError: no such campaign.
        CampaignStateError: it ended already (done or cancelled).
    """
    store = _store(campaign_id)
    _require_state(store, "cancel", {"ingesting", "running", "paused"})
    store.cancel()
    pump(store, DISPATCHER)
    return _document(store)


@at_the_door
def list_campaigns() -> list[dict[str, Any]]:
    """Status documents of every campaign still stored, newest first; a campaign whose
    keys Redis lost has ``state`` ``lost`` (:mod:`worker.campaign.lost`)."""
    runtime = get_runtime()
    documents = []
    ttl = runtime.settings.campaign_ttl_seconds
    for campaign_id in list_campaign_ids(runtime.redis, ttl_seconds=ttl):
        try:
            documents.append(_document(CampaignStore(runtime.redis, campaign_id)))
        except CampaignLostError as exc:  # Redis lost its keys: shown as "lost"
            documents.append(exc.document)
        except CampaignNotFoundError:
            continue
    return documents


@at_the_door
def write_campaign_report(campaign_id: str, path: str | Path | IO[str]) -> int:
    """Write the report CSV of ``campaign_id`` to ``path`` (whole or not at all: see
    :func:`~worker.campaign.report.write_report`) or an open text stream; returns the
    number of rows.

    Raises:
        CampaignNotFoundError: no such campaign.
        OSError: ``path`` cannot be written.
    """
    return write_report(_store(campaign_id), path)
