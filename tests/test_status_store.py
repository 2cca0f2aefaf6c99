"""The status store's transitions, on fakeredis and on the real Redis alike."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from worker.errors import JobNotFoundError
from worker.status import StatusStore


@pytest.fixture(params=["fakeredis", "redis"])
def store(request: pytest.FixtureRequest, redis_url: str) -> Iterator[StatusStore]:
    if request.param == "fakeredis":
        client: redis.Redis = fakeredis.FakeRedis()
    else:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match="courier:job:*"):
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
    assert store.is_terminal("j1")


def test_terminal_states_are_final(store: StatusStore) -> None:
    store.create("j2", "GetUserAttributeVerificationCode", campaign_id="c1")
    store.transition("j2", "failed", attempts=1, error={"code": "X", "message": "y"})
    assert not store.transition("j2", "running")
    document = store.get("j2")
    assert document["state"] == "failed"
    assert document["campaign_id"] == "c1"
    assert document["error"] == {"code": "X", "message": "y"}


def test_start_reports_the_previous_state(store: StatusStore) -> None:
    assert store.start("nothing") is None
    store.create("j4", "ResendConfirmationCode")
    assert store.start("j4") == "queued"
    assert store.get("j4")["state"] == "running"
    assert store.start("j4") == "running"  # a redelivery after a crash
    store.transition("j4", "succeeded", attempts=1)
    assert store.start("j4") == "succeeded"
    assert store.get("j4")["state"] == "succeeded"


def test_unknown_jobs(store: StatusStore) -> None:
    with pytest.raises(JobNotFoundError):
        store.get("missing")
    with pytest.raises(JobNotFoundError):
        store.transition("missing", "running")
    with pytest.raises(ValueError, match="unknown operation"):
        store.create("j3", "DeleteUser")
