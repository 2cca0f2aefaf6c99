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
from pathlib import Path
from typing import Any

from celery import Task

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
from worker.errors import CampaignError, CampaignNotFoundError, NothingToSendError
from worker.ratelimit.base import Category
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


def _store(campaign_id: str) -> CampaignStore:
    """The store of ``campaign_id``; InvalidRequestError when the id is not a 1-64 string."""
    return CampaignStore(get_runtime().redis, check_job_id(campaign_id, field="campaign_id"))


# --- tasks -------------------------------------------------------------------------------


@app.task(name=CHUNK_TASK, bind=True)
def campaign_chunk(self: Task[Any, Any], campaign_id: str, member: str) -> str:
    """Send the open rows of ``member`` (``c:{chunk}`` or ``b:{batch}``); returns the result."""
    runtime = get_runtime()
    token = str(self.request.id)
    return run_member(runtime, CampaignStore(runtime.redis, campaign_id), member, token, DISPATCHER)


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
        complete = ingest_pool_step(store, runtime.settings, limiter, budget_seconds=budget)
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
) -> dict[str, Any]:
    """Start a campaign that resends a confirmation code to every listed user.

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
    current adaptive rate.

    Raises:
        InvalidRequestError: a bad client id or client metadata.
        NothingToSendError: the file or the pool selection holds no usable user (no
            campaign is created; ``document`` holds the rejects, dry run or not).
        CampaignError: no source, an unreadable file or one in an encoding that is not
            accepted, a CSV without a user column, or (pool) no IAM credentials.
    """
    client_id = check_client_id(client_id)
    client_metadata = check_client_metadata(client_metadata)
    runtime = get_runtime()
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
    store = selection.launch(runtime, DISPATCHER, options)
    return {**store.status(), "rejects": rejects, **extra}


@at_the_door
def campaign_status(campaign_id: str) -> dict[str, Any]:
    """The campaign status document (DESIGN.md) plus ``redelivered``.

    Raises:
        CampaignNotFoundError: no such campaign (never created, or expired).
    """
    return _store(campaign_id).status()


@at_the_door
def pause_campaign(campaign_id: str) -> dict[str, Any]:
    """Stop sending new rows (rows in flight finish); returns the status document.

    Raises:
        CampaignNotFoundError: no such campaign.
    """
    store = _store(campaign_id)
    store.set_state("paused", allowed_from={"active"})
    return store.status()


@at_the_door
def resume_campaign(campaign_id: str) -> dict[str, Any]:
    """Send again after a pause (the operator's, or one the campaign took itself for an
    account answer: its ``pause_reason`` is cleared); returns the status document.

    Raises:
        CampaignNotFoundError: no such campaign.
    """
    store = _store(campaign_id)
    if store.resume():
        pump(store, DISPATCHER)
    return store.status()


@at_the_door
def cancel_campaign(campaign_id: str) -> dict[str, Any]:
    """Cancel: every row not sent yet becomes ``cancelled``; returns the status document.

    Rows in flight finish and keep their outcome. A finished campaign is left as it is.

    Raises:
        CampaignNotFoundError: no such campaign.
    """
    store = _store(campaign_id)
    store.cancel()
    pump(store, DISPATCHER)
    return store.status()


@at_the_door
def list_campaigns() -> list[dict[str, Any]]:
    """Status documents of every campaign still stored, newest first."""
    runtime = get_runtime()
    documents = []
    ttl = runtime.settings.campaign_ttl_seconds
    for campaign_id in list_campaign_ids(runtime.redis, ttl_seconds=ttl):
        try:
            documents.append(CampaignStore(runtime.redis, campaign_id).status())
        except CampaignNotFoundError:
            continue
    return documents


@at_the_door
def write_campaign_report(campaign_id: str, path: str | Path) -> int:
    """Write the report CSV of ``campaign_id`` to ``path``; returns the number of users.

    Raises:
        CampaignNotFoundError: no such campaign.
        OSError: ``path`` cannot be written.
    """
    return write_report(_store(campaign_id), path)
