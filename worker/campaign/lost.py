"""A campaign whose keys Redis lost: named ``lost``, never crashed on, never half rebuilt.

A Redis restarted without its data (no AOF/RDB, a replica promoted before it had every
write) can leave a campaign with no ``meta`` at all, or with some of its keys and not
others. Such a campaign is *lost*: its status document says ``"state": "lost"`` with a
``lost_reason``, ``campaign list`` shows it so, ``status``/``report``/control raise
:class:`~worker.errors.CampaignLostError` (the CLI prints the document and exits 1).

A campaign is lost when

* its ``meta`` exists but misses a field every campaign is created with
  (:data:`REQUIRED_META`): something wrote into a ``meta`` that had vanished;
* its ``meta`` is gone while another of its keys is there (the index ``courier:campaigns``,
  ``counts``, ``rows``, ``rate``, the first ``users`` chunk, ``leases``/``owners``);
* its ``meta`` is gone and a worker that held part of it said so: the sender keeps the
  meta it read and, when its campaign vanishes under it before ``expire_at``, writes the
  tombstone ``courier:campaign:{id}:lost`` (:func:`mark_lost`) and puts the id back in the
  index. That is how a campaign running when Redis came back empty is reported.

Nothing here writes into ``meta``; the campaign scripts check ``meta`` exists before
they touch it (:mod:`worker.campaign.scripts`), so a worker never recreates a partial one.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, Final, cast

import redis

from worker.campaign.model import CAMPAIGN_INDEX_KEY, COUNTED_STATES, CampaignKeys
from worker.errors import CampaignLostError, CampaignNotFoundError

__all__ = ["REQUIRED_META", "check_meta", "lost_key", "mark_lost", "missing"]

REQUIRED_META: Final = (
    "id",
    "name",
    "client_id",
    "state",
    "ingest",
    "total",
    "chunk_size",
    "window",
    "lease_seconds",
    "slice_seconds",
    "created_at",
    "updated_at",
    "expire_at",
)
"""Fields every campaign's ``meta`` holds from its creation (worker.campaign.ingest)."""

# KEYS meta tombstone index. ARGV id document ttl_seconds created_at. Writes the
# tombstone only while meta is gone; 1 written, 0 meta is there (not lost).
_MARK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[4]), ARGV[1])
return 1
"""


def lost_key(keys: CampaignKeys) -> str:
    """The tombstone key of a campaign that vanished under a worker holding it."""
    return keys.prefix + "lost"


def _companions(keys: CampaignKeys) -> list[str]:
    return [keys.counts, keys.rows, keys.rate, keys.users(0), keys.leases, keys.owners]


def check_meta(keys: CampaignKeys, meta: dict[str, str], counts: dict[str, int]) -> None:
    """Raise :class:`CampaignLostError` when ``meta`` (not empty) misses a required field."""
    absent = [name for name in REQUIRED_META if name not in meta]
    if absent:
        reason = f"its meta is partial (no {', '.join(absent)}): Redis lost part of its data"
        raise _lost(keys, reason, meta, counts)


def missing(client: redis.Redis, keys: CampaignKeys) -> CampaignNotFoundError:
    """What a campaign without ``meta`` is: :class:`CampaignLostError` when any trace of it
    is left (the tombstone, its index entry, another of its keys), else not found."""
    pipe = client.pipeline(transaction=True)
    pipe.get(lost_key(keys))
    pipe.zscore(CAMPAIGN_INDEX_KEY, keys.campaign_id)
    pipe.exists(*_companions(keys))
    pipe.hgetall(keys.counts)
    tombstone, created_at, others, raw_counts = pipe.execute()
    counts = {k.decode(): int(v) for k, v in cast("dict[bytes, bytes]", raw_counts).items()}
    if tombstone is not None:
        known = cast("dict[str, Any]", json.loads(tombstone))
        return _lost(keys, str(known.get("lost_reason")), known.get("meta", {}), counts)
    if created_at is not None or int(others) > 0:
        meta = {"created_at": str(created_at)} if created_at is not None else {}
        reason = "its meta is gone while other keys of it are left: Redis lost part of its data"
        return _lost(keys, reason, meta, counts)
    return CampaignNotFoundError(f"no campaign {keys.campaign_id} (never created, or expired)")


def mark_lost(client: redis.Redis, keys: CampaignKeys, meta: dict[str, str]) -> bool:
    """Write the tombstone of a campaign that vanished under its holder; True if written.

    ``meta`` is what the holder read when it took its member. Nothing is written when the
    campaign ran out its time (``expire_at`` passed: it expired, it was not lost) or when
    ``meta`` is there after all.
    """
    expire_at = float(meta.get("expire_at", 0))
    remaining = int(expire_at - time.time())
    if remaining <= 0:
        return False
    kept = ("name", "client_id", "total", "created_at", "principal")
    known = {k: meta[k] for k in kept if k in meta}
    document = {
        "lost_reason": (
            "its keys vanished while a worker was sending it (a Redis restarted without "
            "its data, or a failover to a replica that did not have them)"
        ),
        "meta": known,
    }
    script = client.register_script(_MARK)
    created_at = float(meta.get("created_at", time.time()))
    keys_ = [keys.meta, lost_key(keys), CAMPAIGN_INDEX_KEY]
    args: list[str | int | float] = [keys.campaign_id, json.dumps(document), remaining, created_at]
    return bool(script(keys=keys_, args=args))


def _lost(
    keys: CampaignKeys, reason: str, meta: dict[str, Any], counts: dict[str, int]
) -> CampaignLostError:
    campaign_id = keys.campaign_id
    created = _iso(meta.get("created_at"))
    document: dict[str, object] = {
        "id": campaign_id,
        "name": meta.get("name", campaign_id),
        "state": "lost",
        "total": int(meta.get("total", 0) or 0),
        "counts": {state: counts.get(state, 0) for state in COUNTED_STATES},
        "rejected": 0,
        "rate": 0.0,
        "eta_seconds": None,
        "duration_seconds": 0.0,
        "pause_reason": None,
        "created_at": created,
        "updated_at": _iso(meta.get("updated_at")) or created,
        "redelivered": 0,
        "duplicates": 0,
        "case_merged": 0,
        "lost_reason": reason,
    }
    if meta.get("principal"):  # who may see it on the HTTP front (worker.api.auth.visible)
        document["principal"] = str(meta["principal"])
    return CampaignLostError(f"campaign {campaign_id} is lost: {reason}", document)


def _iso(epoch: Any) -> str | None:
    try:
        moment = datetime.fromtimestamp(float(epoch), UTC) if epoch is not None else None
    except (TypeError, ValueError):
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None
