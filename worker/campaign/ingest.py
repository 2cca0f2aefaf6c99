"""Create a campaign and fill it: from a file in the producer, from a pool in a worker.

A file is read where the operator is (it may be standard input), validated row by row
and written in chunks; a pool is listed by a resumable task (``courier.campaign_ingest``)
that stores each page's users together with the next page token, so a crashed listing
resumes where it stopped without adding a user twice.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from worker.campaign.model import (
    DEFAULT_CHUNK_SIZE,
    MAX_REJECTS_SHOWN,
    OnUserCap,
)
from worker.campaign.sources import (
    DEFAULT_POOL_FILTER,
    FileFormat,
    Intake,
    check_row,
    list_pool_pages,
    read_rows,
)
from worker.campaign.store import CampaignStore
from worker.cognito import CognitoGateway
from worker.errors import CampaignError
from worker.ratelimit.base import RateLimiter
from worker.ratelimit.shares import check_weight
from worker.settings import Settings

__all__ = [
    "CampaignOptions",
    "collect_rows",
    "create_campaign",
    "first_pool_users",
    "ingest_pool_step",
    "store_pool_start",
    "new_campaign_id",
    "store_rows",
]

SLICE_SECONDS = 5.0


def new_campaign_id() -> str:
    """A fresh campaign id: 16 hex digits."""
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class CampaignOptions:
    """What a campaign is asked to do, beside its rows.

    Raises:
        CampaignError: on construction, for a value out of range.
    """

    client_id: str
    name: str | None = None
    on_user_cap: OnUserCap = "defer"
    client_metadata: dict[str, str] | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    window: int | None = None
    lease_seconds: float | None = None
    slice_seconds: float = SLICE_SECONDS
    source: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    principal: str | None = None  # the HTTP front's API principal that started it (a name)

    def __post_init__(self) -> None:
        if self.on_user_cap not in ("defer", "skip"):
            raise CampaignError(f"on_user_cap must be 'defer' or 'skip', not {self.on_user_cap!r}")
        if not 1 <= self.chunk_size <= 100_000:
            raise CampaignError("chunk_size must be between 1 and 100000")
        if self.window is not None and self.window < 1:
            raise CampaignError("window must be at least 1")
        if self.lease_seconds is not None and self.lease_seconds < 1:
            raise CampaignError("lease_seconds must be at least 1")
        if self.slice_seconds <= 0:
            raise CampaignError("slice_seconds must be above 0")
        try:
            object.__setattr__(self, "weight", check_weight(self.weight))
        except ValueError as exc:
            raise CampaignError(str(exc)) from None


def create_campaign(
    client: redis.Redis, settings: Settings, campaign_id: str, options: CampaignOptions
) -> tuple[CampaignStore, int]:
    """Write a new campaign's meta (state ``ingesting``); returns the store and expire_at."""
    # The holder's heartbeat renews its lease every few seconds while its process lives,
    # however long a delivery takes; a dead worker's rows come back within seconds.
    lease = options.lease_seconds or settings.lease_seconds
    fields: dict[str, str | int | float] = {
        "name": options.name or f"campaign {campaign_id}",
        "client_id": options.client_id,
        "on_user_cap": options.on_user_cap,
        "chunk_size": options.chunk_size,
        "window": options.window or settings.concurrency,
        "lease_seconds": lease,
        "slice_seconds": options.slice_seconds,
        "batch_rows": options.chunk_size,
        "source": json.dumps(options.source),
        # the share of the budget campaigns may take: the first ETA, before calls are measured
        "budget_rate": settings.rate_limit * settings.bulk_share,
        # its part of the bulk share beside the other running campaigns (the limiter's)
        "weight": options.weight,
    }
    if options.client_metadata:
        fields["client_metadata"] = json.dumps(options.client_metadata)
    if options.principal is not None:
        fields["principal"] = options.principal
    store = CampaignStore(client, campaign_id)
    expire_at = int(store.create(ttl_seconds=settings.campaign_ttl_seconds, fields=fields))
    return store, expire_at


def collect_rows(
    data: bytes | str,
    fmt: FileFormat,
    *,
    case_sensitive: bool = False,
    keep_rejects: int = MAX_REJECTS_SHOWN,
) -> tuple[Intake, list[str]]:
    """Validate every row of ``data``; returns the intake and the accepted names in order.

    ~2 µs per row. Nothing is stored: a caller refuses a file with nothing to send before
    a campaign exists.

    Raises:
        CampaignError: the file as a whole is unusable (an encoding that is not accepted,
            a CSV without a user column).
    """
    intake = Intake(case_sensitive=case_sensitive, keep_rejects=keep_rejects)
    names: list[str] = []
    for _, value in read_rows(data, fmt):
        name = intake.offer(value)
        if name is not None:
            names.append(name)
    return intake, names


def store_rows(
    store: CampaignStore,
    intake: Intake,
    names: list[str],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    expire_at: int,
) -> None:
    """Store ``names`` as the campaign's rows (one MULTI per chunk), its rejects, and
    mark the input complete."""
    total = 0
    for start in range(0, len(names), chunk_size):
        batch = names[start : start + chunk_size]
        total = store.append_rows(
            batch, first_row=total, chunk_size=chunk_size, expire_at=expire_at
        )
    store.add_rejects(((r.line, r.reason) for r in intake.rejects), expire_at=expire_at)
    store.finish_ingest(
        rejected=intake.rejected, duplicates=intake.duplicates, case_merged=intake.case_merged
    )


def count_pool(
    gateway: CognitoGateway, limiter: RateLimiter, user_pool_id: str, filter_expression: str
) -> Intake:
    """List the whole pool without storing anything (for a dry run)."""
    intake = Intake()
    for names, _ in list_pool_pages(
        gateway, limiter, user_pool_id, filter_expression=filter_expression
    ):
        for name in names:
            intake.offer(check_row(0, name))
    return intake


def first_pool_users(
    gateway: CognitoGateway, limiter: RateLimiter, user_pool_id: str, filter_expression: str
) -> tuple[Intake, list[str], str | None]:
    """List pages until one holds a user (or the listing ends), before a campaign exists.

    Returns the intake, the users found and the next page token (None: listing complete),
    so a selection with nobody in it is refused without creating a campaign.

    Raises:
        CampaignError: the listing failed (no IAM credentials, unknown pool, bad filter).
    """
    intake = Intake(case_sensitive=True)  # Cognito lists each user once
    names: list[str] = []
    for page, token in list_pool_pages(
        gateway, limiter, user_pool_id, filter_expression=filter_expression
    ):
        names += [n for n in page if intake.offer(check_row(0, n)) is not None]
        if names or token is None:
            return intake, names, token
    return intake, names, None


def store_pool_start(
    store: CampaignStore,
    intake: Intake,
    names: list[str],
    token: str | None,
    *,
    chunk_size: int,
    expire_at: int,
) -> None:
    """Store the first users of a pool listing with the page token to resume from."""
    extra: dict[str, str | int] = {"page_token": token or "", "rejected": intake.rejected}
    store.append_rows(names, first_row=0, chunk_size=chunk_size, expire_at=expire_at, extra=extra)
    if token is None:
        store.finish_ingest(rejected=intake.rejected, duplicates=0)


def ingest_pool_step(
    store: CampaignStore, gateway: CognitoGateway, limiter: RateLimiter, *, budget_seconds: float
) -> bool:
    """List pages of the campaign's pool for about ``budget_seconds``; True when complete.

    Each page is stored with the next page token in one MULTI, so the listing resumes
    exactly where it stopped. Rows rejected by validation (none expected from Cognito)
    are counted in ``rejected``. A cancelled campaign stops listing after the page in
    hand (complete, True).

    Raises:
        CampaignError: the listing failed (no IAM credentials, unknown pool, bad filter).
    """
    meta = store.meta()
    source = json.loads(meta["source"])
    total = int(meta["total"])
    size = int(meta["chunk_size"])
    expire_at = int(meta["expire_at"])
    rejected = int(meta.get("rejected", 0))
    stop_at = time.monotonic() + budget_seconds
    pages: Iterator[tuple[list[str], str | None]] = list_pool_pages(
        gateway,
        limiter,
        source["user_pool_id"],
        filter_expression=source.get("filter", DEFAULT_POOL_FILTER),
        page_token=meta.get("page_token") or None,
    )
    for names, token in pages:
        accepted = [n for n in names if isinstance(check_row(0, n), str)]
        rejected += len(names) - len(accepted)
        extra: dict[Any, Any] = {"page_token": token or "", "rejected": rejected}
        if accepted:
            total = store.append_rows(
                accepted, first_row=total, chunk_size=size, expire_at=expire_at, extra=extra
            )
        else:
            store.update_meta(**extra)
        if token is None:
            store.finish_ingest(rejected=rejected, duplicates=0)
            return True
        if store.redis.hget(store.keys.meta, "state") == b"cancelled":
            # stop listing: no more ListUsers calls, and the rows of the pages listed
            # since the cancel are cancelled like the others
            store.finish_ingest(rejected=rejected, duplicates=0)
            store.sweep(chunk_size=size, with_running=False)
            return True
        if time.monotonic() > stop_at:
            return False
    store.finish_ingest(rejected=rejected, duplicates=0)
    return True


def estimate_seconds(rows: int, bulk_rate_per_second: float) -> float:
    """Seconds to send ``rows`` at ``bulk_rate_per_second`` (one call per row)."""
    if rows == 0:
        return 0.0
    return math.ceil(rows / bulk_rate_per_second * 10) / 10
