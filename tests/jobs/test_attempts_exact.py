"""``attempts`` is exact through a Redis outage: the resumed delivery goes on counting.

A private AOF redis-server is stopped while the job's first call waits for an answer
that comes too late (the emulator's ``slow:<ms>``), and started again five seconds
later: the worker waits for Redis (:func:`worker.liveness.heartbeat.patiently`) and
delivers again with the progress it had. Two calls reached Cognito, and the document
says two, one of them unanswered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis
from worker.delivery import ResendRequest
from worker.jobs import run_job
from worker.runtime import Runtime
from worker.status import StatusStore

pytestmark = pytest.mark.timeout(120)

OPERATION = ResendRequest.operation


@pytest.fixture
def aof_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, AOF on, so a restart keeps every key."""
    with PrivateRedis(appendonly=True) as server:
        yield server


def test_a_redis_outage_between_calls_keeps_the_count(
    aof_redis: PrivateRedis,
    emulator: EmulatorHandle,
    pool: Any,
    make_settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The outage starts when the emulator has the first call and must still be on when
    # that call times out: the 4 s read timeout leaves the emulator and the stop 4 s to
    # get there (2 s was too little on a loaded CI machine), and 5 s down outlasts it.
    settings = make_settings(
        redis_url=aof_redis.url,
        redis_wait_max_seconds=30.0,
        retry_max_seconds=30.0,
        read_timeout_seconds=4.0,
    )
    runtime = Runtime.from_settings(settings)
    username = pool.add_user("blip-user")
    emulator.script(operation=OPERATION, username=username, errors=["slow:6000"])
    statuses = StatusStore(runtime.redis, ttl_seconds=3600)
    statuses.create("blip-job", OPERATION)

    def outage() -> None:
        deadline = time.monotonic() + 30
        while not emulator.stats()["totals"].get(OPERATION) and time.monotonic() < deadline:
            time.sleep(0.02)
        aof_redis.restart(down_seconds=5.0)  # the first call is out, its answer late

    blip = threading.Thread(target=outage)
    blip.start()
    try:
        with caplog.at_level(logging.INFO, logger="worker"):
            result = run_job(runtime, "blip-job", ResendRequest(pool.client_id, username))
    finally:
        blip.join()
    assert result == "succeeded"
    document = statuses.get("blip-job")
    assert document["state"] == "succeeded", document
    assert emulator.stats()["totals"][OPERATION] == 2
    assert (document["attempts"], document["ambiguous"]) == (2, 1)
    assert "succeeded after 2 attempt(s)" in caplog.text
    assert "Redis is unreachable" in caplog.text  # the outage really met the delivery
