"""Who a campaign would reach: its source read, checked and counted, before anything is stored.

:meth:`Selection.gather` reads a file (CSV, JSON, text: :mod:`worker.campaign.formats`) or
lists a user pool's first page (ListUsers), describes the pool for the preflight checks
(:mod:`worker.campaign.preflight`) and settles the username case rule. The start document
of ``courier campaign start`` (with or without ``--dry-run``) is built from it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.campaign.engine import Dispatcher, pump
from worker.campaign.ingest import (
    CampaignOptions,
    collect_rows,
    count_pool,
    create_campaign,
    first_pool_users,
    new_campaign_id,
    store_pool_start,
    store_rows,
)
from worker.campaign.model import COUNTED_STATES, MAX_REJECTS_SHOWN, MAX_REJECTS_STORED
from worker.campaign.preflight import PoolFacts, describe_pool
from worker.campaign.sources import (
    FileFormat,
    Intake,
    detect_format,
    open_input,
    require_iam_credentials,
)
from worker.campaign.store import CampaignStore
from worker.campaign.textfile import decode_input
from worker.errors import CampaignError
from worker.runtime import Runtime

__all__ = ["Selection", "dry_run_document"]


@dataclass
class Selection:
    """Who a campaign would reach: the source, its intake, the users found so far.

    Attributes:
        source: ``{"kind": "file", "path", "format"}`` or
            ``{"kind": "pool", "user_pool_id", "filter"}`` (stored in the campaign's meta).
        intake: accepted, rejected, repeated and case-merged rows.
        names: the accepted usernames found so far (all of a file; a pool's first page;
            none for a pool dry run, which only counts).
        facts: what DescribeUserPool said (e-mail sender cap, case sensitivity).
        token: a pool listing's next page, None once the listing is complete.
    """

    source: dict[str, Any]
    intake: Intake
    names: list[str]
    facts: PoolFacts
    token: str | None = None

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
    ) -> Selection:
        """Read the source: ``file`` or ``data`` if given, else the pool ``user_pool_id``.

        Raises:
            CampaignError: no source, an unreadable or undecodable file, a CSV without a
                user column, or (pool) no IAM credentials.
        """
        if file is None and data is None:
            if user_pool_id is None:
                raise CampaignError("give a source: a file, or a user pool id to list")
            gateway = runtime.gateway
            require_iam_credentials(gateway, f"listing pool {user_pool_id}", user_pool_id)
            source = {"kind": "pool", "user_pool_id": user_pool_id, "filter": filter_expression}
            facts = describe_pool(gateway, user_pool_id)
            limiter = runtime.limiter_for_pool(user_pool_id)
            if dry_run:
                intake = count_pool(gateway, limiter, user_pool_id, filter_expression)
                return cls(source, intake, [], facts)
            found = first_pool_users(gateway, limiter, user_pool_id, filter_expression)
            return cls(source, found[0], found[1], facts, found[2])
        path = str(file) if file is not None else "-"
        raw = data if data is not None else open_input(path)
        text = decode_input(raw, name="standard input" if path == "-" else path)
        fmt = file_format or detect_format(path, text)
        client = runtime.clients.lookup(client_id)
        facts = describe_pool(runtime.gateway, user_pool_id or client.user_pool_id)
        if case_sensitive is None and facts.case_sensitive is not None:
            case_sensitive = facts.case_sensitive
        if case_sensitive is None and client_id in runtime.clients:
            case_sensitive = client.case_sensitive  # COURIER_CLIENTS says
        if case_sensitive is None:
            case_sensitive = False  # unknown: merged, as new pools behave
        keep = MAX_REJECTS_SHOWN if dry_run else MAX_REJECTS_STORED
        intake, names = collect_rows(text, fmt, case_sensitive=case_sensitive, keep_rejects=keep)
        return cls({"kind": "file", "path": path, "format": fmt}, intake, names, facts)

    def launch(
        self,
        runtime: Runtime,
        dispatcher: Dispatcher,
        options: CampaignOptions,
        *,
        campaign_id: str | None = None,
    ) -> CampaignStore:
        """Create the campaign (under ``campaign_id``, default a fresh id), store the users
        found, start the pool listing if it has more pages, and pump it once; returns its
        store.

        Raises:
            CampaignError: a campaign with ``campaign_id`` exists already.
        """
        store, expire_at = create_campaign(
            runtime.redis, runtime.settings, campaign_id or new_campaign_id(), options
        )
        chunk_size = options.chunk_size
        if self.source["kind"] == "file":
            store_rows(store, self.intake, self.names, chunk_size=chunk_size, expire_at=expire_at)
        else:
            store_pool_start(
                store,
                self.intake,
                self.names,
                self.token,
                chunk_size=chunk_size,
                expire_at=expire_at,
            )
            if self.token is not None:
                generation = uuid.uuid4().hex
                store.hand_ingest_to(generation)
                dispatcher.ingest(store.id, generation)
        pump(store, dispatcher)
        return store

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


def dry_run_document(options: CampaignOptions, intake: Intake) -> dict[str, Any]:
    """A campaign status document for a campaign that was not created (``id`` null)."""
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
