"""A campaign whose keys Redis lost is named ``lost``, never crashed on or half rebuilt.

Real Redis (a private one no worker watches) for the store and its scripts; the CLI
through typer's runner on the test runtime.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from tests.support.campaigns import FIELDS, SIZE
from worker.campaign.lost import lost_key, mark_lost
from worker.campaign.model import CAMPAIGN_INDEX_KEY
from worker.campaign.store import CampaignStore
from worker.cli.campaign import campaign_app
from worker.errors import CampaignLostError, CampaignNotFoundError
from worker.runtime import Runtime


@pytest.fixture
def client(scratch_redis_url: str) -> Iterator[redis.Redis]:
    real = redis.Redis.from_url(scratch_redis_url)
    for key in real.scan_iter(match="courier:campaign*", count=1000):
        real.delete(key)
    yield real
    real.close()


def _store(client: redis.Redis, campaign_id: str = "1ost0000000000aa") -> tuple[CampaignStore, int]:
    store = CampaignStore(client, campaign_id)
    expire_at = int(store.create(ttl_seconds=3600, fields=FIELDS))
    store.append_rows(
        [f"u{i}" for i in range(6)], first_row=0, chunk_size=SIZE, expire_at=expire_at
    )
    store.finish_ingest(rejected=0, duplicates=0)
    return store, expire_at


def _record(store: CampaignStore, row: int, expire_at: int) -> int:
    k = store.keys
    keys = [k.meta, k.rows, k.counts, k.leases, k.rate, k.deferred, k.run, k.outcomes(row // SIZE)]
    args = ["c:0", 30, expire_at, 1, row, 2, f"{row % SIZE}\t2\t\t\t\t1\t0\n", 1, 0]
    return int(store.run("RECORD", keys, args))


def test_a_meta_gone_with_other_keys_left_is_lost(client: redis.Redis) -> None:
    store, _ = _store(client)
    client.delete(store.keys.meta)
    with pytest.raises(CampaignLostError) as caught:
        store.status()
    document: dict[str, Any] = caught.value.document
    assert document["state"] == "lost"
    assert "meta is gone" in str(document["lost_reason"])
    assert document["counts"]["queued"] == 6  # what the counts still say
    with pytest.raises(CampaignLostError):
        store.meta()
    with pytest.raises(CampaignLostError):
        store.set_state("paused", allowed_from={"active"})


def test_a_partial_meta_is_lost_naming_what_is_missing(client: redis.Redis) -> None:
    store, _ = _store(client)
    client.hdel(store.keys.meta, "created_at", "window")
    with pytest.raises(CampaignLostError) as caught:
        store.status()
    assert "no window, created_at" in str(caught.value.document["lost_reason"])


def test_no_trace_at_all_is_not_found(client: redis.Redis) -> None:
    with pytest.raises(CampaignNotFoundError) as caught:
        CampaignStore(client, "0000000000000000").status()
    assert not isinstance(caught.value, CampaignLostError)


def test_scripts_never_recreate_a_vanished_meta(client: redis.Redis) -> None:
    store, expire_at = _store(client)
    for key in client.scan_iter(match=f"{store.keys.prefix}*"):
        client.delete(key)  # a Redis restarted empty
    client.delete(CAMPAIGN_INDEX_KEY)
    assert _record(store, 0, expire_at) == 0
    with pytest.raises(CampaignLostError):
        store.finish_ingest(rejected=0, duplicates=0)
    with pytest.raises(CampaignLostError):
        store.append_rows(["late"], first_row=6, chunk_size=SIZE, expire_at=expire_at)
    assert not client.exists(store.keys.meta)
    assert not client.exists(store.keys.rate)


def test_a_holder_that_saw_it_vanish_leaves_a_tombstone(client: redis.Redis) -> None:
    store, _ = _store(client)
    meta = store.meta()
    for key in client.scan_iter(match=f"{store.keys.prefix}*"):
        client.delete(key)
    client.delete(CAMPAIGN_INDEX_KEY)
    assert mark_lost(client, store.keys, meta)
    assert 0 < client.ttl(lost_key(store.keys)) <= 3600
    with pytest.raises(CampaignLostError) as caught:
        store.status()
    document = caught.value.document
    assert document["name"] == FIELDS["name"]
    assert document["total"] == 6
    assert "vanished while a worker was sending it" in str(document["lost_reason"])
    assert client.zscore(CAMPAIGN_INDEX_KEY, store.id) is not None  # listed again


def test_no_tombstone_for_a_campaign_that_is_there_or_expired(client: redis.Redis) -> None:
    store, _ = _store(client)
    meta = store.meta()
    assert not mark_lost(client, store.keys, meta)  # meta is there: not lost
    client.delete(store.keys.meta)
    expired = {**meta, "expire_at": str(int(time.time()) - 1)}
    assert not mark_lost(client, store.keys, expired)  # ran out its time: expired
    assert not client.exists(lost_key(store.keys))


runner = CliRunner()


def test_the_cli_reports_lost(runtime: Runtime, tmp_path: Path) -> None:
    store, _ = _store(runtime.redis, "1ost00000000c1i0")
    runtime.redis.hdel(store.keys.meta, "chunk_size")
    result = runner.invoke(campaign_app, ["status", store.id, "--json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["state"] == "lost"
    listed = json.loads(runner.invoke(campaign_app, ["list", "--json"]).stdout)
    assert [c["state"] for c in listed["campaigns"] if c["id"] == store.id] == ["lost"]
    out = tmp_path / "r.csv"
    result = runner.invoke(campaign_app, ["report", store.id, "--out", str(out), "--json"])
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "CampaignLostError"
    assert "no chunk_size" in error["message"]
    assert not out.exists()
    for action in ("pause", "resume", "cancel"):
        result = runner.invoke(campaign_app, [action, store.id, "--json"])
        assert result.exit_code == 1, (action, result.output)
        assert json.loads(result.stdout)["error"]["type"] == "CampaignLostError"
