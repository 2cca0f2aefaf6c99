"""Bulk resend campaigns: the Celery tasks (queue ``bulk``) and the producer API.

    from tasks.campaigns import start_campaign, campaign_status
    doc = start_campaign("3n4b5urk1ft4fl3mg5e62d9ado", file="unconfirmed.csv")
    print(campaign_status(doc["id"])["counts"])

Tasks: ``courier.campaign_chunk`` sends one member's rows (a chunk of up to 1,000 users or a
retry batch), ``courier.campaign_ingest`` lists a user pool page by page. No timer task:
every worker's watchdog pumps live campaigns (:mod:`worker.watchdog`). See
:mod:`worker.campaign.engine` for pacing and crash recovery.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Task

from worker.app import BULK_QUEUE, app
from worker.broker import at_the_door
from worker.campaign.dispatch import CHUNK_TASK, CeleryDispatcher
from worker.campaign.engine import pump
from worker.campaign.ingest import (
    CampaignOptions,
    collect_rows,
    count_pool,
    create_campaign,
    estimate_seconds,
    first_pool_users,
    ingest_pool_step,
    new_campaign_id,
    store_pool_start,
    store_rows,
)
from worker.campaign.model import (
    COUNTED_STATES,
    DEFAULT_CHUNK_SIZE,
    MAX_REJECTS_SHOWN,
    MAX_REJECTS_STORED,
    OnUserCap,
)
from worker.campaign.preflight import PoolFacts, describe_pool
from worker.campaign.report import write_report
from worker.campaign.sender import run_member
from worker.campaign.sources import (
    DEFAULT_POOL_FILTER,
    FileFormat,
    Intake,
    detect_format,
    open_input,
    require_iam_credentials,
)
from worker.campaign.store import CampaignStore, list_campaign_ids
from worker.campaign.textfile import decode_input
from worker.errors import CampaignError, CampaignNotFoundError, NothingToSendError
from worker.ratelimit.base import Category
from worker.runtime import Runtime, get_runtime
from worker.validation import check_client_id, check_client_metadata, check_job_id

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
    """The store of ``campaign_id``; InvalidRequestError when the id is not a 1-64 string."""
    return CampaignStore(get_runtime().redis, check_job_id(campaign_id, field="campaign_id"))


# --- tasks -------------------------------------------------------------------------------


@app.task(name=CHUNK_TASK, bind=True)
def campaign_chunk(self: Task[Any, Any], campaign_id: str, member: str) -> str:
    """Send the open rows of ``member`` (``c:{chunk}`` or ``b:{batch}``); returns the result."""
    runtime = get_runtime()
    token = str(self.request.id)
    return run_member(runtime, CampaignStore(runtime.redis, campaign_id), member, token, DISPATCHER)


@app.task(name="courier.campaign_tick")
def campaign_tick(campaign_id: str, tick: str) -> None:
    """Retired timer: a tick queued by an older version is acknowledged and does nothing.

    The watchdog of every worker pumps live campaigns now (:mod:`worker.watchdog`).
    """


@app.task(name="courier.campaign_ingest")
def campaign_ingest(campaign_id: str, generation: str) -> None:
    """List the campaign's pool for a while, then hand over to the next generation."""
    runtime = get_runtime()
    store = CampaignStore(runtime.redis, campaign_id)
    if store.redis.hget(store.keys.meta, "ingest_gen") != generation.encode():
        return  # a stale copy (redelivered after its successor was sent)
    budget = max(5.0, runtime.settings.visibility_timeout_seconds / 3)
    try:
        pool = json.loads(store.meta()["source"]).get("user_pool_id")
        limiter = runtime.limiter_for_pool(pool)  # ListUsers counts in the pool's Region
        complete = ingest_pool_step(store, runtime.settings, limiter, budget_seconds=budget)
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
    selection = _Selection.gather(
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
    intake = selection.intake
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
    rejects = [r.as_dict() for r in intake.rejects[:MAX_REJECTS_SHOWN]]
    extra = selection.figures()
    if dry_run or not selection.names:
        document = {**_dry_document(options, intake), "rejects": rejects, **extra}
        if dry_run:
            limiter = runtime.limiter_for_client(client_id)
            bulk_rate = limiter.state(Category.USER_RESOURCE_READ).bulk_rate_per_second
            document["estimated_seconds"] = estimate_seconds(intake.accepted, bulk_rate)
            document["bulk_rate_per_second"] = round(bulk_rate, 3)
            document["dry_run"] = True
        if intake.accepted == 0:
            raise NothingToSendError(selection.nothing_message(), document)
        return document
    campaign_id = new_campaign_id()
    store, expire_at = create_campaign(runtime.redis, runtime.settings, campaign_id, options)
    if selection.source["kind"] == "file":
        store_rows(store, intake, selection.names, chunk_size=chunk_size, expire_at=expire_at)
    else:
        store_pool_start(
            store,
            intake,
            selection.names,
            selection.token,
            chunk_size=chunk_size,
            expire_at=expire_at,
        )
        if selection.token is not None:
            generation = uuid.uuid4().hex
            store.redis.hset(store.keys.meta, "ingest_gen", generation)
            campaign_ingest.apply_async(args=(campaign_id, generation), queue=BULK_QUEUE)
    pump(store, DISPATCHER)
    return {**store.status(), "rejects": rejects, **extra}


@dataclass
class _Selection:
    """Who a campaign would reach: the source, its intake, the users found so far."""

    source: dict[str, Any]
    intake: Intake
    names: list[str]
    facts: PoolFacts
    token: str | None = None  # a pool listing's next page (None: complete)

    @classmethod
    def gather(
        cls,
        runtime: Runtime,
        *,
        client_id: str,
        file: str | Path | None,
        data: bytes | None,
        file_format: FileFormat | None,
        user_pool_id: str | None,
        filter_expression: str,
        case_sensitive: bool | None,
        dry_run: bool,
    ) -> _Selection:
        settings = runtime.settings
        if file is None and data is None:
            if user_pool_id is None:
                raise CampaignError("give a source: a file, or a user pool id to list")
            require_iam_credentials(settings, f"listing pool {user_pool_id} (ListUsers)")
            source = {"kind": "pool", "user_pool_id": user_pool_id, "filter": filter_expression}
            facts = describe_pool(settings, user_pool_id)
            if dry_run:
                intake = count_pool(
                    settings,
                    runtime.limiter_for_pool(user_pool_id),
                    user_pool_id,
                    filter_expression,
                )
                return cls(source, intake, [], facts)
            found = first_pool_users(
                settings, runtime.limiter_for_pool(user_pool_id), user_pool_id, filter_expression
            )
            return cls(source, found[0], found[1], facts, found[2])
        path = str(file) if file is not None else "-"
        raw = data if data is not None else open_input(path)
        text = decode_input(raw, name="standard input" if path == "-" else path)
        fmt = file_format or detect_format(path, text)
        client = runtime.clients.lookup(client_id)
        facts = describe_pool(settings, user_pool_id or client.user_pool_id)
        if case_sensitive is None and facts.case_sensitive is not None:
            case_sensitive = facts.case_sensitive
        if case_sensitive is None and client_id in runtime.clients:
            case_sensitive = client.case_sensitive  # COURIER_CLIENTS says
        if case_sensitive is None:
            case_sensitive = False  # unknown: merged, as new pools behave
        keep = MAX_REJECTS_SHOWN if dry_run else MAX_REJECTS_STORED
        intake, names = collect_rows(text, fmt, case_sensitive=case_sensitive, keep_rejects=keep)
        return cls({"kind": "file", "path": path, "format": fmt}, intake, names, facts)

    def figures(self) -> dict[str, Any]:
        """The start document's members beside the status document's."""
        intake = self.intake
        complete = self.token is None
        warnings = self.facts.warnings(intake.accepted) if complete else list(self.facts.notes)
        if intake.case_merged:
            warnings.append(
                f"{intake.case_merged} rows differ from an earlier row only in letter case and "
                "were merged (the pool's usernames are case-insensitive, or not known to be "
                "case-sensitive: give --user-pool-id, or --case-sensitive if they are)"
            )
        return {
            "duplicates": intake.duplicates,
            "case_merged": intake.case_merged,
            "case_sensitive": intake.case_sensitive,
            "reachable_today": self.facts.reachable_today(intake.accepted) if complete else None,
            "warnings": warnings,
        }

    def nothing_message(self) -> str:
        """Why nothing can be sent."""
        source, intake = self.source, self.intake
        if source["kind"] == "pool":
            return (
                f"nothing to send: pool {source['user_pool_id']} has no user matching "
                f"{source['filter']!r}; no campaign was created"
            )
        parts = [f"{intake.rejected} rejected"]
        if intake.duplicates:
            parts.append(f"{intake.duplicates} repeated")
        where = "standard input" if source["path"] == "-" else source["path"]
        return (
            f"nothing to send: {where} holds no usable username ({', '.join(parts)}); "
            "no campaign was created"
        )


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
        "duration_seconds": None,
        "pause_reason": None,
        "created_at": None,
        "updated_at": None,
    }


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
    if store.set_state("active", allowed_from={"paused"}) == "paused":
        store.redis.hdel(store.keys.meta, "pause_reason")
        store.redis.delete(store.keys.run)
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
