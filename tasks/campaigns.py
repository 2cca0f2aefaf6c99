"""Bulk resend campaigns: the Celery tasks (queue ``bulk``) and the producer API.

    from tasks.campaigns import start_campaign, campaign_status
    doc = start_campaign("3n4b5urk1ft4fl3mg5e62d9ado", file="unconfirmed.csv")
    print(campaign_status(doc["id"])["counts"])

Tasks: ``courier.campaign_chunk`` sends one member's rows (a chunk of up to 1,000 users or a
retry batch), ``courier.campaign_tick`` is the timer pump, ``courier.campaign_ingest`` lists
a user pool page by page. See :mod:`worker.campaign.engine` for pacing and crash recovery.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from celery import Task

from worker.app import BULK_QUEUE, app
from worker.broker import at_the_door
from worker.campaign.dispatch import CHUNK_TASK, TICK_TASK, CeleryDispatcher
from worker.campaign.engine import pump, run_tick
from worker.campaign.ingest import (
    CampaignOptions,
    count_pool,
    create_campaign,
    estimate_seconds,
    ingest_file,
    ingest_pool_step,
    new_campaign_id,
)
from worker.campaign.model import COUNTED_STATES, DEFAULT_CHUNK_SIZE, OnUserCap
from worker.campaign.preflight import preflight_warnings
from worker.campaign.report import write_report
from worker.campaign.sender import run_member
from worker.campaign.sources import (
    DEFAULT_POOL_FILTER,
    FileFormat,
    Intake,
    detect_format,
    open_input,
    read_rows,
    require_iam_credentials,
)
from worker.campaign.store import CampaignStore, list_campaign_ids
from worker.errors import CampaignError, CampaignNotFoundError
from worker.ratelimit.base import Category
from worker.runtime import get_runtime
from worker.validation import check_client_id, check_client_metadata

__all__ = [
    "campaign_chunk",
    "campaign_ingest",
    "campaign_status",
    "campaign_tick",
    "cancel_campaign",
    "list_campaigns",
    "pause_campaign",
    "resume_campaign",
    "start_campaign",
    "write_campaign_report",
]


DISPATCHER = CeleryDispatcher(app)


def _store(campaign_id: str) -> CampaignStore:
    return CampaignStore(get_runtime().redis, campaign_id)


# --- tasks -------------------------------------------------------------------------------


@app.task(name=CHUNK_TASK, bind=True)
def campaign_chunk(self: Task[Any, Any], campaign_id: str, member: str) -> str:
    """Send the open rows of ``member`` (``c:{chunk}`` or ``b:{batch}``); returns the result."""
    runtime = get_runtime()
    token = str(self.request.id)
    return run_member(runtime, CampaignStore(runtime.redis, campaign_id), member, token, DISPATCHER)


@app.task(name=TICK_TASK)
def campaign_tick(campaign_id: str, tick: str) -> None:
    """The timer pump: re-lease lost work, release due deferred rows, schedule itself."""
    run_tick(_store(campaign_id), tick, DISPATCHER)


@app.task(name="courier.campaign_ingest")
def campaign_ingest(campaign_id: str, generation: str) -> None:
    """List the campaign's pool for a while, then hand over to the next generation."""
    runtime = get_runtime()
    store = CampaignStore(runtime.redis, campaign_id)
    if store.redis.hget(store.keys.meta, "ingest_gen") != generation.encode():
        return  # a stale copy (redelivered after its successor was sent)
    budget = max(5.0, runtime.settings.visibility_timeout_seconds / 3)
    try:
        complete = ingest_pool_step(store, runtime.settings, runtime.limiter, budget_seconds=budget)
    except CampaignError as exc:
        store.redis.hset(store.keys.meta, "ingest_error", str(exc))
        store.finish_ingest(
            rejected=int(store.meta().get("rejected", 0)), duplicates=0
        )  # keep what was listed; the error is in the meta
        return
    if not complete:
        successor = uuid.uuid4().hex
        campaign_ingest.apply_async(args=(campaign_id, successor), queue=BULK_QUEUE)
        store.redis.hset(store.keys.meta, "ingest_gen", successor)
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
) -> dict[str, Any]:
    """Start a campaign that resends a confirmation code to every listed user.

    Users come from ``file`` (a path, ``-`` for standard input, or ``data`` bytes; CSV,
    JSON Lines or text) or else from ``user_pool_id`` filtered by ``filter_expression``
    (with a file, ``user_pool_id`` only serves the preflight check). Returns
    the start document: the campaign status document plus ``rejects`` (first 1,000),
    ``duplicates``, ``warnings`` and, for a dry run (nothing stored or sent; ``id`` null),
    ``estimated_seconds`` at the bulk share of the current adaptive rate.

    Raises:
        InvalidRequestError: a bad client id or client metadata.
        CampaignError: no source or two sources, an unreadable file, a CSV without a
            username column, or (pool) no IAM credentials for ListUsers.
    """
    client_id = check_client_id(client_id)
    client_metadata = check_client_metadata(client_metadata)
    from_file = file is not None or data is not None
    if not from_file and user_pool_id is None:
        raise CampaignError("give a source: a file, or a user pool id to list")
    runtime = get_runtime()
    settings = runtime.settings
    source: dict[str, Any]
    if from_file:
        path = str(file) if file is not None else "-"
        raw = data if data is not None else open_input(path)
        fmt = file_format or detect_format(path, raw[:4096])
        next(read_rows(raw, fmt), None)  # a CSV without a username column fails here
        source = {"kind": "file", "path": path, "format": fmt}
    else:
        require_iam_credentials(settings, f"listing pool {user_pool_id} (ListUsers)")
        source = {"kind": "pool", "user_pool_id": user_pool_id, "filter": filter_expression}
    options = CampaignOptions(
        client_id=client_id,
        name=name,
        on_user_cap=on_user_cap,
        client_metadata=client_metadata,
        chunk_size=chunk_size,
        window=window,
        lease_seconds=lease_seconds,
        source=source,
    )
    if dry_run:
        if from_file:
            intake = ingest_file(None, raw, fmt, chunk_size=chunk_size)
        else:
            assert user_pool_id is not None
            intake = count_pool(settings, runtime.limiter, user_pool_id, filter_expression)
        bulk_rate = runtime.limiter.state(Category.USER_RESOURCE_READ).bulk_rate_per_second
        return {
            **_dry_document(options, intake),
            "rejects": [r.as_dict() for r in intake.rejects],
            "duplicates": intake.duplicates,
            "warnings": preflight_warnings(settings, user_pool_id, intake.accepted),
            "estimated_seconds": estimate_seconds(intake.accepted, bulk_rate),
            "bulk_rate_per_second": round(bulk_rate, 3),
            "dry_run": True,
        }
    campaign_id = new_campaign_id()
    store, expire_at = create_campaign(runtime.redis, settings, campaign_id, options)
    _start_timer(store)
    if from_file:
        intake = ingest_file(store, raw, fmt, chunk_size=chunk_size, expire_at=expire_at)
        warnings = preflight_warnings(settings, user_pool_id, intake.accepted)
        rejects = [r.as_dict() for r in intake.rejects]
        duplicates = intake.duplicates
    else:
        generation = uuid.uuid4().hex
        store.redis.hset(store.keys.meta, "ingest_gen", generation)
        campaign_ingest.apply_async(args=(campaign_id, generation), queue=BULK_QUEUE)
        warnings, rejects, duplicates = preflight_warnings(settings, user_pool_id, 0), [], 0
    pump(store, DISPATCHER)
    return {
        **store.status(),
        "rejects": rejects,
        "duplicates": duplicates,
        "warnings": warnings,
    }


def _dry_document(options: CampaignOptions, intake: Intake) -> dict[str, Any]:
    counts = dict.fromkeys(COUNTED_STATES, 0)
    counts["queued"] = intake.accepted
    return {
        "id": None,
        "name": options.name or "dry run",
        "state": "done",
        "total": intake.accepted,
        "counts": counts,
        "rejected": intake.rejected,
        "rate": 0.0,
        "eta_seconds": None,
        "created_at": None,
        "updated_at": None,
    }


def _start_timer(store: CampaignStore) -> None:
    tick = uuid.uuid4().hex
    store.redis.hset(store.keys.meta, "tick", tick)
    DISPATCHER.tick(store.id, tick, 0)


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
    """Send again after a pause; returns the status document.

    Raises:
        CampaignNotFoundError: no such campaign.
    """
    store = _store(campaign_id)
    if store.set_state("active", allowed_from={"paused"}) == "paused":
        _start_timer(store)
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
    if store.set_state("cancelled", allowed_from={"active", "paused"}) != "cancelled":
        chunk_size = int(store.meta()["chunk_size"])
        store.sweep(chunk_size=chunk_size, with_running=False)
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
