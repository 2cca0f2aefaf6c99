"""The pieces behind the broker's door: URL masking, eviction policy, dead letters.

Real Redis throughout (the session's private server, or a private one of the test's own
where the server's configuration matters); no fakes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest
import redis

from worker.broker import deadletter
from worker.broker.deadletter import DeadLetters, raw_text
from worker.broker.door import at_the_door, check_eviction_policy, eviction_policy
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis, free_port
from worker.errors import BrokerUnavailable, EvictingRedisError
from worker.runtime import Runtime
from worker.settings import Settings


def test_a_closed_port_is_broker_unavailable_within_seconds(settings: Settings) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as caught:
        check_eviction_policy(client, settings.model_copy(update={"redis_url": url}), role="test")
    assert time.monotonic() - started < 5
    assert "hunter2" not in str(caught.value)
    assert caught.value.url.startswith("redis://:***@127.0.0.1:")


@pytest.mark.parametrize("policy", ["volatile-lru", "allkeys-lru"])
def test_an_evicting_redis_is_refused_naming_the_setting(policy: str, settings: Settings) -> None:
    with PrivateRedis(maxmemory_policy=policy) as server:
        client = redis.Redis.from_url(server.url)
        assert eviction_policy(client) == policy
        local = settings.model_copy(update={"redis_url": server.url})
        with pytest.raises(EvictingRedisError) as caught:
            check_eviction_policy(client, local, role="worker")
        message = str(caught.value)
        assert f"maxmemory-policy is {policy}" in message
        assert "noeviction" in message
        assert "COURIER_REDIS_ALLOW_EVICTION=true" in message
        client.close()


def test_allowing_eviction_warns_at_every_check(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with PrivateRedis(maxmemory_policy="volatile-lru") as server:
        client = redis.Redis.from_url(server.url)
        local = settings.model_copy(update={"redis_url": server.url, "redis_allow_eviction": True})
        with caplog.at_level(logging.WARNING, logger="worker.broker.door"):
            assert check_eviction_policy(client, local, role="worker") == "volatile-lru"
            assert check_eviction_policy(client, local, role="worker") == "volatile-lru"
        warnings = [r for r in caplog.records if "may evict keys" in r.getMessage()]
        assert len(warnings) == 2
        client.close()


def test_a_redis_without_config_is_asked_info_memory(settings: Settings) -> None:
    # Managed Redis (ElastiCache) renames CONFIG; INFO memory still says the policy.
    extra = ["--rename-command", "CONFIG", ""]
    with PrivateRedis(maxmemory_policy="volatile-ttl", extra_args=extra) as server:
        client = redis.Redis.from_url(server.url)
        with pytest.raises(redis.ResponseError):
            client.config_get("maxmemory-policy")
        assert eviction_policy(client) == "volatile-ttl"
        client.close()
    with PrivateRedis(extra_args=extra) as server:
        client = redis.Redis.from_url(server.url)
        local = settings.model_copy(update={"redis_url": server.url})
        assert check_eviction_policy(client, local, role="producer") == "noeviction"
        client.close()


def test_the_session_redis_does_not_evict(settings: Settings, redis_client: redis.Redis) -> None:
    assert check_eviction_policy(redis_client, settings, role="producer") == "noeviction"


def test_at_the_door_turns_connection_errors_into_broker_unavailable(runtime: Runtime) -> None:
    @at_the_door
    def produce() -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    with pytest.raises(BrokerUnavailable, match="is unreachable: Error 111"):
        produce()


# --- dead letters ------------------------------------------------------------------------


def test_dead_letters_keep_reason_queue_time_and_raw(redis_client: redis.Redis) -> None:
    letters = DeadLetters(redis_client)
    before = time.time()
    letters.record("undecodable", "not JSON", queue="bulk", raw=b"\xff\x00oops")
    letters.record("unknown_task", "no task named 'x'", queue="interactive", raw='{"a": 1}')
    newest, oldest = letters.entries()
    assert newest["reason"] == "unknown_task"
    assert newest["raw"] == '{"a": 1}'
    assert oldest["queue"] == "bulk"
    assert oldest["raw"].startswith("base64:")
    assert oldest["at"] >= before - 1
    assert letters.counts() == {"undecodable": 1, "unknown_task": 1, "total": 2}


def test_dead_letters_are_capped(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deadletter, "CAPACITY", 3)
    letters = DeadLetters(redis_client)
    for n in range(5):
        letters.record("not_a_message", f"item {n}", raw=str(n))
    assert [e["raw"] for e in letters.entries()] == ["4", "3", "2"]
    assert letters.counts()["total"] == 5


def test_an_unknown_reason_is_refused(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="unknown dead-letter reason"):
        DeadLetters(redis_client).record("whatever", "x")


def test_raw_text_is_cut_and_objects_are_json() -> None:
    assert raw_text(None) is None
    assert raw_text({"a": [1]}) == '{"a": [1]}'
    text = raw_text("x" * 100_000)
    assert text is not None
    assert len(text) == deadletter.RAW_LIMIT


def test_a_job_without_status_document_is_dead_lettered_not_sent(
    celery_worker: Any, runtime: Runtime, emulator: EmulatorHandle
) -> None:
    from tasks.jobs import resend_confirmation_code

    job_id = str(uuid.uuid4())
    # What an evicting Redis or an expired document leaves: a message, no document.
    resend_confirmation_code.apply_async(
        kwargs={"job_id": job_id, "client_id": "abc123", "username": "evicted-user"},
        task_id=job_id,
    )
    letters = DeadLetters(runtime.redis)
    deadline = time.monotonic() + 20
    while not letters.entries() and time.monotonic() < deadline:
        time.sleep(0.05)
    (entry,) = letters.entries()
    assert entry["reason"] == "no_status"
    assert entry["job_id"] == job_id
    assert entry["queue"] == "interactive"
    assert letters.counts()["no_status"] == 1
    assert emulator.deliveries(username="evicted-user") == []
    assert json.dumps(entry).count("evicted-user") == 0  # kwargs are not copied in
