"""The status store's transitions, on fakeredis and on the real Redis alike."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from tests.support.runtime import is_terminal
from worker.errors import JobNotFoundError
from worker.status import Started, StatusStore


@pytest.fixture(params=["fakeredis", "redis"])
def store(request: pytest.FixtureRequest, redis_url: str) -> Iterator[StatusStore]:
    if request.param == "fakeredis":
        client: redis.Redis = fakeredis.FakeRedis()
    else:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match="courier:job*"):
            client.delete(key)
    yield StatusStore(client, ttl_seconds=3600)
    client.close()


def test_lifecycle(store: StatusStore) -> None:
    store.create("j1", "ResendConfirmationCode")
    assert store.transition("j1", "running")
    assert store.transition("j1", "retrying", attempts=1)
    assert store.get("j1")["state"] == "retrying"
    delivery = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    assert store.transition("j1", "succeeded", attempts=2, delivery=delivery)
    document = store.get("j1")
    assert document["state"] == "succeeded"
    assert document["attempts"] == 2
    assert document["delivery"] == delivery
    assert is_terminal(store, "j1")


def test_terminal_states_are_final(store: StatusStore) -> None:
    store.create("j2", "GetUserAttributeVerificationCode", campaign_id="c1")
    store.transition("j2", "failed", attempts=1, error={"code": "X", "message": "y"})
    assert not store.transition("j2", "running")
    document = store.get("j2")
    assert document["state"] == "failed"
    assert document["campaign_id"] == "c1"
    assert document["error"] == {"code": "X", "message": "y"}


def test_start_reports_the_previous_state(store: StatusStore) -> None:
    assert store.start("nothing", holder="w1", lease_seconds=15).previous is None
    store.create("j4", "ResendConfirmationCode")
    assert store.start("j4", holder="w1", lease_seconds=15) == Started("queued", 0)
    assert store.get("j4")["state"] == "running"
    store.count_attempt("j4")  # a call left, then w1 died
    # another holder while w1's lease is alive: left alone
    assert store.start("j4", holder="w2", lease_seconds=15) == Started("running", 1, held=True)
    store.redis.zadd("courier:jobs:leases", {"j4": 0})  # w1's lease ran out
    redelivered = store.start("j4", holder="w2", lease_seconds=15)
    assert redelivered == Started("running", 1, held=False)  # a redelivery
    assert store.get("j4")["redeliveries"] == 1
    store.transition("j4", "succeeded", attempts=2)
    assert store.start("j4", holder="w3", lease_seconds=15).previous == "succeeded"
    document = store.get("j4")
    assert document["state"] == "succeeded"
    assert document["attempts"] == 2
    assert store.redis.zscore("courier:jobs:leases", "j4") is None  # the lease ended with it


def test_reap_hands_on_a_job_whose_holder_stopped_beating(store: StatusStore) -> None:
    payload = {"job_id": "j5", "client_id": "c", "username": "u", "sealed_secret_hash": None}
    store.create("j5", "ResendConfirmationCode", payload=payload)
    store.start("j5", holder="w1", lease_seconds=15)
    assert store.expired() == []
    assert store.reap("j5") is None  # the lease is alive
    assert store.renew("j5", "w1", 15) == 1
    assert store.renew("j5", "zombie", 15) == 0
    store.redis.zadd("courier:jobs:leases", {"j5": 0})
    assert store.expired() == ["j5"]
    assert store.reap("j5") == ("ResendConfirmationCode", payload)
    assert store.reap("j5") is None  # only one reaper wins
    document = store.get("j5")
    assert document["state"] == "queued"
    assert document["redeliveries"] == 1
    assert "payload" not in document  # sealed arguments are never shown
    assert store.renew("j5", "w1", 15) == 0  # the old holder lost it


def test_unknown_jobs(store: StatusStore) -> None:
    with pytest.raises(JobNotFoundError):
        store.get("missing")
    with pytest.raises(JobNotFoundError):
        store.transition("missing", "running")
    with pytest.raises(ValueError, match="unknown operation"):
        store.create("j3", "DeleteUser")
