"""Writes that must survive a failover wait for a replica (WAIT), on real Redis pairs.

A private primary and a real replica (``--replicaof``); the count of WAIT commands the
primary ran (``INFO commandstats``) shows who waited; a replica frozen with SIGSTOP makes
WAIT time out; ``REPLICAOF NO ONE`` promotes the replica, so a write after it is one the
new primary never gets, as in a failover.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.campaigns import FIELDS, SIZE
from worker.broker import replicas
from worker.broker.replicas import ReplicaWait
from worker.campaign.store import CampaignStore
from worker.contrib.redisserver import PrivateRedis
from worker.status import StatusStore

JOB = "6f1c2a8e-0000-4000-8000-00000000beef"


@pytest.fixture
def pair() -> Iterator[tuple[PrivateRedis, PrivateRedis]]:
    """A primary and one replica in sync."""
    primary = PrivateRedis()
    primary.start()
    replica = PrivateRedis(replica_of=primary)
    try:
        replica.start()
        _wait_online(primary, 1)
        yield primary, replica
    finally:
        replica.close()
        primary.close()


def _wait_online(primary: PrivateRedis, count: int) -> None:
    client = primary.client()
    deadline = time.monotonic() + 15
    while True:
        info = client.info("replication")
        online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        if sum(1 for v in online if v.get("state") == "online") >= count:
            break
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.05)
    client.close()


def _waits(client: redis.Redis) -> int:
    stats = client.info("commandstats").get("cmdstat_wait", {})
    return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


def test_a_submission_and_an_outcome_wait_for_the_replica(
    pair: tuple[PrivateRedis, PrivateRedis],
) -> None:
    primary, replica = pair
    client = primary.client()
    wait = ReplicaWait(client, min_replicas=None)
    assert wait.wanted() == 1  # the connected replicas, at most 1
    statuses = StatusStore(client, ttl_seconds=60, replicas=wait)
    before = _waits(client)
    statuses.create(JOB, "ResendConfirmationCode")
    assert wait.after_write() == 1  # what statuses.accepted() runs: the replica has it
    assert replica.client().hget(f"courier:job:{JOB}", "state") == b"queued"
    statuses.transition(JOB, "running")  # not an outcome: no WAIT
    assert _waits(client) == before + 1
    assert statuses.transition(JOB, "succeeded")
    assert _waits(client) == before + 2
    assert replica.client().hget(f"courier:job:{JOB}", "state") == b"succeeded"


def test_zero_turns_waiting_off_and_no_replica_costs_nothing(
    pair: tuple[PrivateRedis, PrivateRedis],
) -> None:
    primary, _ = pair
    client = primary.client()
    off = StatusStore(client, ttl_seconds=60, replicas=ReplicaWait(client, min_replicas=0))
    before = _waits(client)
    off.create(JOB, "ResendConfirmationCode")
    off.accepted()
    off.transition(JOB, "failed", error={"code": "X", "message": "y"})
    assert _waits(client) == before
    with PrivateRedis() as alone:
        lone = alone.client()
        wait = ReplicaWait(lone, min_replicas=None)
        assert wait.wanted() == 0
        assert wait.after_write() == -1
        assert _waits(lone) == 0


def test_a_frozen_replica_times_out_once_then_writes_stop_waiting(
    pair: tuple[PrivateRedis, PrivateRedis],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    primary, replica = pair
    monkeypatch.setattr(replicas, "DEGRADED_SECONDS", 1.0)
    client = primary.client()
    wait = ReplicaWait(client, min_replicas=1, timeout_ms=300)
    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="worker.broker.replicas"):
            started = time.monotonic()
            assert wait.after_write() == 0  # timed out: the write stands on the primary
            took = time.monotonic() - started
            assert 0.25 <= took < 2.0
            assert client.get(replicas._MARKER_KEY) == b"1"
            started = time.monotonic()
            assert wait.after_write() == -1  # degraded: nothing waits
            assert time.monotonic() - started < 0.2
    finally:
        os.kill(replica.pid, signal.SIGCONT)
    time.sleep(1.1)
    with caplog.at_level(logging.WARNING, logger="worker.broker.replicas"):
        assert wait.after_write() == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "worker.broker.replicas"]
    assert len([line for line in lines if "did not acknowledge" in line]) == 1, lines
    assert any("acknowledges writes again" in line for line in lines), lines


def test_an_acl_user_without_info_counts_replicas_with_wait(
    pair: tuple[PrivateRedis, PrivateRedis],
) -> None:
    primary, _ = pair
    admin = primary.client()
    admin.acl_setuser(
        "app",
        enabled=True,
        passwords=["+pw-acl"],
        keys=["*"],
        channels=["*"],
        categories=["+@all", "-@dangerous"],
    )
    user = redis.Redis(host=primary.host, port=primary.port, username="app", password="pw-acl")
    with pytest.raises(redis.exceptions.NoPermissionError):
        user.info("replication")
    assert ReplicaWait(user, min_replicas=None).wanted() == 1


def _claim(store: CampaignStore, rows: list[int], token: str) -> list[int]:
    k = store.keys
    keys = [k.meta, k.rows, k.counts, k.leases, k.owners, k.redeliveries]
    return [int(c) for c in store.run("CLAIM", keys, ["c:0", token, 30, 1, 0, *rows])]


def _record(store: CampaignStore, row: int, expire_at: int) -> int:
    k = store.keys
    keys = [k.meta, k.rows, k.counts, k.leases, k.rate, k.deferred, k.run, k.outcomes(0)]
    args = ["c:0", 30, expire_at, 1, row, 2, f"{row % SIZE}\t2\t\t\t\t1\t0\n", 1, 0]
    return int(store.run("RECORD", keys, args))


def test_a_row_recorded_on_the_old_primary_and_lost_is_sent_again_once(
    pair: tuple[PrivateRedis, PrivateRedis],
) -> None:
    if True:
        old, new = pair[0].client(), pair[1].client()
        replicas.replica_wait(old, min_replicas=1)  # as the runtime configures its client
        store = CampaignStore(old, "fa110ver00000001")
        expire_at = int(store.create(ttl_seconds=3600, fields=FIELDS))
        store.append_rows(["u0", "u1", "u2"], first_row=0, chunk_size=SIZE, expire_at=expire_at)
        store.finish_ingest(rejected=0, duplicates=0)
        k = store.keys
        old.hset(k.owners, "c:0", "holder-1")
        old.zadd(k.leases, {"c:0": time.time() + 30})
        assert _claim(store, [0, 1], "holder-1") == [1, 1]
        assert _record(store, 0, expire_at) == 1  # WAITed: on the replica too
        new.replicaof("NO", "ONE")  # the failover
        assert _record(store, 1, expire_at) == 1  # acknowledged by the old primary only
        # The new primary: row 0 succeeded, row 1 still running under a holder that is
        # gone (its worker follows the new primary); a new holder claims the chunk.
        moved = CampaignStore(new, store.id)
        assert moved.row_states(0, 3) == bytes([2, 1, 0])
        new.hset(k.owners, "c:0", "holder-2")
        assert _claim(moved, [0, 1, 2], "holder-2") == [0, 2, 1]  # row 1 sent again
        assert moved.status()["redelivered"] == 1
        assert moved.row_redeliveries() == {1: 1}
        assert _record(moved, 1, expire_at) == 1
        assert _claim(moved, [0, 1], "holder-2") == [0, 0]  # settled: never a third time
        assert moved.status()["counts"]["succeeded"] == 2


def test_a_redis_failing_at_the_wait_leaves_the_write_standing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = PrivateRedis()
    server.start()
    client = server.client()
    wait = ReplicaWait(client, min_replicas=1, timeout_ms=100)
    server.close()  # gone between the caller's write and its WAIT
    with caplog.at_level(logging.WARNING, logger="worker.broker.replicas"):
        assert wait.after_write() == 0  # not raised: the job stays accepted
    assert any("could not wait for a Redis replica" in r.getMessage() for r in caplog.records)
