"""An evicting Redis is refused by workers, the HTTP front and producers.

A private Redis with ``maxmemory-policy volatile-lru`` (ElastiCache's default): a real
``courier worker`` stops with exit status 2, ``courier api`` and ``courier resend`` exit 2
naming the setting and the fixes, and nothing is enqueued. With
``COURIER_REDIS_ALLOW_EVICTION=true`` the worker serves and warns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.brokerprocs import worker_env, workers
from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, courier
from worker.contrib.redisserver import PrivateRedis, free_port

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

POLICY = "volatile-lru"


@pytest.fixture
def evicting_redis() -> Iterator[PrivateRedis]:
    """A Redis that may evict keys with a TTL."""
    with PrivateRedis(maxmemory_policy=POLICY) as server:
        yield server


def test_a_worker_refuses_an_evicting_redis(evicting_redis: PrivateRedis, tmp_path: Path) -> None:
    env = worker_env(evicting_redis.url, None)
    worker = WorkerProcess("evict", env, tmp_path, ["-c", "4"]).start(wait_ready_seconds=None)
    try:
        status = worker.wait_exit(timeout_seconds=60)
    finally:
        worker.stop()
    log = worker.log()
    assert status == 2, log[-3000:]
    assert f"maxmemory-policy is {POLICY}" in log
    assert "COURIER_REDIS_ALLOW_EVICTION=true" in log
    assert "Traceback" not in log


def test_a_worker_told_to_accept_eviction_serves_and_warns(
    evicting_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = worker_env(evicting_redis.url, None, COURIER_REDIS_ALLOW_EVICTION="true")
    with workers(1, env, tmp_path) as (worker,):
        wait_until(lambda: "may evict keys" in worker.log(), timeout_seconds=20, what="warning")
        assert worker.alive


def test_the_http_front_refuses_an_evicting_redis(evicting_redis: PrivateRedis) -> None:
    env = {**worker_env(evicting_redis.url, None), "COURIER_API_TOKENS": "token-for-tests"}
    done = courier("api", "--port", str(free_port()), env=env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"maxmemory-policy is {POLICY}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_producer_refuses_an_evicting_redis_and_enqueues_nothing(
    evicting_redis: PrivateRedis,
) -> None:
    env = worker_env(evicting_redis.url, None)
    done = courier("resend", "--client-id", "abc123", "--username", "alice", "--json", env=env)
    assert done.returncode == 2, done.stderr[-3000:]
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "EvictingRedisError"
    assert "maxmemory-policy noeviction" in error["message"]
    client = redis.Redis.from_url(evicting_redis.url)
    assert client.llen("interactive") == 0
    assert list(client.scan_iter(match="courier:job:*")) == []
    client.close()
