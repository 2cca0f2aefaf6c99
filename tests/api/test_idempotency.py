"""The Idempotency-Key header on a live front: same key, same job; other parameters, 422."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support.front import LIVE_AUTH, LiveFront

RESEND = {"Action": "ResendConfirmationCode", "ClientId": "client1", "Username": "ivy"}


@pytest.fixture
def http(live_front: LiveFront) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_front.url, headers=LIVE_AUTH, timeout=30) as client:
        yield client


def _jobs(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="courier:job:*"))


def test_the_same_key_answers_the_same_job(http: httpx.Client, redis_client: redis.Redis) -> None:
    key = {"Idempotency-Key": "order-4711-resend"}
    first = http.post("/", json=RESEND, headers=key)
    assert first.status_code == 202, first.text
    again = http.post("/", json=RESEND, headers=key)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    # the GET form with the same key and parameters is the same request
    query = http.get("/", params=RESEND, headers=key)
    assert query.json()["id"] == first.json()["id"]
    assert len(_jobs(redis_client)) == 1


def test_the_same_key_with_other_parameters_answers_422(
    http: httpx.Client, redis_client: redis.Redis
) -> None:
    key = {"Idempotency-Key": "order-4712"}
    assert http.post("/", json=RESEND, headers=key).status_code == 202
    other = http.post("/", json={**RESEND, "Username": "ivan"}, headers=key)
    assert other.status_code == 422, other.text
    assert other.json()["__type"] == "IdempotentParameterMismatchException"
    assert "Idempotency-Key" in other.json()["message"]
    assert len(_jobs(redis_client)) == 1
    # a new key makes a new job
    fresh = http.post("/", json={**RESEND, "Username": "ivan"}, headers={"Idempotency-Key": "n"})
    assert fresh.status_code == 202
    assert len(_jobs(redis_client)) == 2


@pytest.mark.parametrize("value", ["", "k" * 256, "schlüssel"], ids=["empty", "256", "non-ascii"])
def test_a_malformed_key_answers_400(
    http: httpx.Client, redis_client: redis.Redis, value: str
) -> None:
    response = http.post("/", json=RESEND, headers={b"Idempotency-Key": value.encode("utf-8")})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("IdempotencyKey: ")
    assert _jobs(redis_client) == []


def test_the_key_is_not_kept_in_clear(http: httpx.Client, redis_client: redis.Redis) -> None:
    key = "customer-secret-key-8d1f"
    assert http.post("/", json=RESEND, headers={"Idempotency-Key": key}).status_code == 202
    for name in redis_client.scan_iter(match="*"):
        assert key.encode() not in name
        kind = redis_client.type(name)
        if kind == b"string":
            assert key.encode() not in (redis_client.get(name) or b"")
        elif kind == b"hash":
            assert all(key.encode() not in v for v in redis_client.hgetall(name).values())
