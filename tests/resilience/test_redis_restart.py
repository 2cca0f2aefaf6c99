"""A Redis restart is a pause: every worker survives it and resumes by itself.

Two real ``courier worker`` processes hold what made Celery 5.7.0 exit on a connection
loss: unacknowledged messages (jobs in a 12-s call, ``task_acks_late``) and a countdown
message each worker reserves. Redis (AOF) is stopped for 3 s and started again. Then:
no worker exits, new jobs (from a producer waiting out the outage) succeed within 10 s of
Redis answering, the jobs that were in
flight and the countdown job succeed (each user called once), and each worker logged the
outage in exactly two lines (lost, back), without a traceback.

This test fails on Celery 5.7.0 without the ``Channel.close`` guard of worker/broker/transport.py
(both workers exit with the ``hostname`` AttributeError), and with
``worker_cancel_long_running_tasks_on_connection_loss=True`` on the threads pool
(``NotImplementedError: ... does not implement kill_job``): see pyproject.toml.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis

from tests.support.brokerprocs import (
    collect,
    produce,
    start_producer,
    worker_env,
    workers,
)
from tests.support.figures import record
from tests.support.polling import wait_until
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis
from worker.status import StatusStore

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

SLOW_MS = 12_000
RESUME_TARGET_SECONDS = 10.0


def _users(first: int, count: int) -> list[str]:
    return [f"user{n:07d}" for n in range(first, first + count)]


def test_workers_survive_a_redis_restart_holding_unacked_and_countdown_messages(
    aof_redis: PrivateRedis,
    synthetic_emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    env = worker_env(aof_redis.url, synthetic_emulator.endpoint_url)
    client = redis.Redis.from_url(aof_redis.url, socket_timeout=5)
    statuses = StatusStore(client, ttl_seconds=3600)

    def states(ids: list[str]) -> list[str]:
        return [str(statuses.get(job_id)["state"]) for job_id in ids]

    with workers(2, env, tmp_path) as pair:
        synthetic_emulator.script(operation="ResendConfirmationCode", errors=["slow:12000"] * 4)
        countdown_id = str(uuid.uuid4())
        held = produce(env, _users(1, 4), [(countdown_id, "user0000050", 15.0)])
        wait_until(
            lambda: states(held[:4]) == ["running"] * 4,
            timeout_seconds=10,
            what="the four slow jobs running on the workers",
        )
        unacked = client.hlen("unacked")
        assert unacked >= 5  # four calls in flight and the reserved countdown message

        aof_redis.stop()
        producer = start_producer(env, _users(10, 10))  # retries until Redis answers
        time.sleep(3)
        aof_redis.start()
        back_at = time.monotonic()

        fresh = collect(producer)
        wait_until(
            lambda: states(fresh) == ["succeeded"] * 10,
            timeout_seconds=30,
            what="new jobs to succeed after the restart",
        )
        resumed_seconds = time.monotonic() - back_at
        wait_until(
            lambda: states(held) == ["succeeded"] * 5,
            timeout_seconds=40,
            what="the jobs in flight and the countdown job to succeed",
        )
        wait_until(
            lambda: client.hlen("unacked") == 0,
            timeout_seconds=10,
            what="every message acknowledged",
        )
        exits = [w.returncode for w in pair if not w.alive]
        logs = [w.log() for w in pair]
    scenario = "Redis restart (AOF, 3 s down) under 2 workers holding unacked + countdown"
    record(scenario, "messages unacknowledged at the stop", unacked)
    record(scenario, "worker exits", len(exits), target="0", met=not exits)
    record(
        scenario,
        "seconds from Redis answering to 10 new jobs done (producer waiting)",
        round(resumed_seconds, 1),
        target=f"<= {RESUME_TARGET_SECONDS:g} s",
        met=resumed_seconds <= RESUME_TARGET_SECONDS,
    )

    assert exits == [], f"workers exited: {exits}"
    assert resumed_seconds <= RESUME_TARGET_SECONDS
    sent = Counter(d["username"] for d in synthetic_emulator.deliveries())
    for user in [*_users(1, 4), "user0000050", *_users(10, 10)]:
        assert sent[user] == 1, f"{user} called {sent[user]} times"
    for log in logs:
        assert log.count("lost the connection to Redis") == 1, log[-3000:]
        assert log.count("answers again after") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert "Cannot connect to" not in log  # Celery's line at every retry
        assert "Connection to broker lost" not in log  # Celery's line, ours replaces it
        assert "Unrecoverable error" not in log
