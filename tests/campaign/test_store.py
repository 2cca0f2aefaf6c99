"""The campaign store's Lua: row transitions, leases, counts, sweeps (fakeredis and real Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis

from tests.support.campaigns import FIELDS, SIZE
from worker.campaign.model import CampaignKeys
from worker.campaign.store import CampaignStore
from worker.errors import CampaignError, CampaignNotFoundError


@pytest.fixture(params=["fakeredis", "redis"])
def client(request: pytest.FixtureRequest, scratch_redis_url: str) -> Iterator[Any]:
    """The same tests over fakeredis (with Lua) and a real Redis no worker watches."""
    if request.param == "fakeredis":
        yield fakeredis.FakeRedis()
        return
    real = redis.Redis.from_url(scratch_redis_url)
    for key in real.scan_iter(match="courier:campaign*", count=1000):
        real.delete(key)
    yield real
    real.close()


def _store(client: Any, rows: int = 10) -> tuple[CampaignStore, int]:
    store = CampaignStore(client, "t1")
    expire_at = int(store.create(ttl_seconds=3600, fields=FIELDS))
    names = [f"u{i}" for i in range(rows)]
    total = store.append_rows(names[:3], first_row=0, chunk_size=SIZE, expire_at=expire_at)
    store.append_rows(names[3:], first_row=total, chunk_size=SIZE, expire_at=expire_at)
    store.finish_ingest(rejected=0, duplicates=0)
    return store, expire_at


def _next(store: CampaignStore, token: str, expire_at: int, window: int = 2) -> bytes | None:
    k = store.keys
    result: bytes | None = store.run(
        "NEXT", [k.meta, k.leases, k.owners, k.requeue], [window, token, 30, expire_at]
    )
    return result


def _claim(store: CampaignStore, row: int, member: str, token: str) -> int:
    k = store.keys
    codes = store.run(
        "CLAIM", [k.meta, k.rows, k.counts, k.leases, k.owners], [member, token, 30, 1, 0, row]
    )
    return int(codes[0])


def _record(store: CampaignStore, row: int, code: int, member: str, expire_at: int) -> int:
    k = store.keys
    keys = [k.meta, k.rows, k.counts, k.leases, k.rate, k.deferred, k.run, k.outcomes(row // SIZE)]
    args = [member, 30, expire_at, 1, row, code, f"{row % SIZE}\t{code}\t\t\t\t1\t0\n", 1, 0]
    return int(store.run("RECORD", keys, args))


def test_rows_are_stored_in_chunks(client: Any) -> None:
    store, _ = _store(client)
    assert store.chunk_usernames(0) == ["u0", "u1", "u2", "u3"]
    assert store.chunk_usernames(2) == ["u8", "u9"]
    assert store.row_states(0, 10) == b"\x00" * 10
    assert store.status()["counts"]["queued"] == 10
    assert store.status()["state"] == "running"


def test_a_row_moves_once_and_counts_follow(client: Any) -> None:
    store, expire_at = _store(client)
    assert _next(store, "t-a", expire_at) == b"c:0"
    assert _next(store, "t-b", expire_at) == b"c:1"
    assert _next(store, "t-c", expire_at) is None  # window of 2 is full
    assert _claim(store, 0, "c:0", "t-a") == 1
    assert _claim(store, 0, "c:0", "t-b") == -2  # not the holder of c:0
    assert _record(store, 0, 2, "c:0", expire_at) == 1
    assert _record(store, 0, 3, "c:0", expire_at) == 0  # terminal: never moves again
    assert _claim(store, 0, "c:0", "t-a") == 0  # a redelivered chunk skips it
    counts = store.status()["counts"]
    assert counts == {**counts, "queued": 9, "running": 0, "succeeded": 1, "failed": 0}
    assert store.outcomes(0) == b"0\t2\t\t\t\t1\t0\n"


def test_claims_stop_at_a_pause(client: Any) -> None:
    store, expire_at = _store(client)
    k = store.keys
    _next(store, "t-a", expire_at)
    claim = [k.meta, k.rows, k.counts, k.leases, k.owners]
    assert store.run("CLAIM", claim, ["c:0", "t-a", 30, 1, 0, 0, 1]) == [1, 1]
    store.set_state("paused", allowed_from={"active"})
    assert store.run("CLAIM", claim, ["c:0", "t-a", 30, 1, 0, 0, 2, 3]) == [-3]
    assert store.status()["counts"]["running"] == 2


def test_a_row_found_running_is_sent_again_and_counted(client: Any) -> None:
    store, expire_at = _store(client)
    _next(store, "t-a", expire_at)
    assert _claim(store, 1, "c:0", "t-a") == 1
    # the holder dies; the same message is redelivered with the same task id
    assert _claim(store, 1, "c:0", "t-a") == 2
    assert store.status()["redelivered"] == 1
    assert store.status()["counts"]["running"] == 1
    # with the per-row key (what the sender passes), the report can say which row repeated
    k = store.keys
    claim = [k.meta, k.rows, k.counts, k.leases, k.owners, k.redeliveries]
    assert store.run("CLAIM", claim, ["c:0", "t-a", 30, 1, 0, 1]) == [2]
    assert store.row_redeliveries() == {1: 1}
    assert client.ttl(k.redeliveries) > 0


def test_take_release_and_requeue(client: Any) -> None:
    store, expire_at = _store(client)
    k = store.keys
    _next(store, "t-a", expire_at)
    take = [k.leases, k.owners, k.meta]
    assert store.run("TAKE", take, ["c:0", "t-a", 30]) == 1
    assert store.run("TAKE", take, ["c:0", "t-x", 30]) == 0  # live holder: busy
    assert store.run("TAKE", take, ["c:9", "t-x", 30]) == 2  # nobody's: stale message
    release = [k.leases, k.owners, k.requeue]
    assert store.run("RELEASE", release, ["c:0", "t-x", 1, expire_at]) == 0
    assert store.run("RELEASE", release, ["c:0", "t-a", 1, expire_at]) == 1
    assert _next(store, "t-b", expire_at) == b"c:0"  # requeued members go first


def test_expired_leases_are_reaped(client: Any) -> None:
    store, expire_at = _store(client)
    k = store.keys
    _next(store, "t-a", expire_at)
    assert store.run("REAP", [k.leases, k.owners], ["c:0", "t-b", 30]) == 0  # still live
    client.zadd(k.leases, {"c:0": time.time() - 1})
    assert store.run("REAP", [k.leases, k.owners], ["c:0", "t-b", 30]) == 1
    assert client.hget(k.owners, "c:0") == b"t-b"


def test_pause_and_cancel_stop_claims_and_sweep(client: Any) -> None:
    store, expire_at = _store(client)
    _next(store, "t-a", expire_at)
    assert _claim(store, 0, "c:0", "t-a") == 1
    store.set_state("paused", allowed_from={"active"})
    assert _claim(store, 1, "c:0", "t-a") == -3
    assert store.status()["state"] == "paused"
    store.set_state("cancelled", allowed_from={"active", "paused"})
    assert _claim(store, 1, "c:0", "t-a") == -4
    assert store.sweep(chunk_size=SIZE, with_running=False) == 9
    counts = store.status()["counts"]
    assert (counts["cancelled"], counts["running"], counts["queued"]) == (9, 1, 0)
    assert _record(store, 0, 2, "c:0", expire_at) == 1  # the row in flight keeps its outcome
    k = store.keys
    finish = store.run("FINISH", [k.meta, k.counts, k.leases, k.requeue, k.deferred], [])
    assert finish == 0  # c:0 is still leased
    client.delete(k.leases)
    finish = store.run("FINISH", [k.meta, k.counts, k.leases, k.requeue, k.deferred], [])
    assert finish == 1
    assert store.status()["state"] == "cancelled"


def test_deferred_rows_become_a_retry_batch_when_due(client: Any) -> None:
    store, expire_at = _store(client)
    k = store.keys
    _next(store, "t-a", expire_at)
    _claim(store, 2, "c:0", "t-a")
    keys = [k.meta, k.rows, k.counts, k.leases, k.rate, k.deferred, k.run, k.outcomes(0)]
    due = time.time() - 0.1
    store.run("RECORD", keys, ["c:0", 30, expire_at, 1, 2, 6, "2\t6\tCap\t\t\t0\t0\n", 0, due])
    assert store.status()["counts"]["deferred"] == 1
    member = store.run(
        "DUE",
        [k.meta, k.deferred, k.leases, k.owners, k.batch("b1")],
        [3, "t-b", 30, expire_at, "b:b1", 100],
    )
    assert member == b"b:b1"
    assert store.batch_rows("b1") == [2]
    claim = [k.meta, k.rows, k.counts, k.leases, k.owners]
    assert store.run("CLAIM", claim, ["b:b1", "t-b", 30, 7, 6, 2]) == [1]
    assert store.status()["counts"]["running"] == 1


def test_ttl_on_every_key(client: Any) -> None:
    _store(client)
    keys = list(client.scan_iter(match=f"{CampaignKeys('t1').prefix}*"))
    assert keys
    for key in keys:
        assert 0 < client.ttl(key) <= 3600


def test_unknown_and_duplicate_campaigns(client: Any) -> None:
    with pytest.raises(CampaignNotFoundError):
        CampaignStore(client, "nope").status()
    _store(client)
    with pytest.raises(CampaignError, match="exists already"):
        CampaignStore(client, "t1").create(ttl_seconds=60, fields=FIELDS)
