"""``courier flower`` on ``sentinel://`` follows the primary through a Sentinel failover.

Three real sentinels (down-after-milliseconds 1000) watch a primary and one replica; one
``courier worker`` and one ``courier flower`` (basic auth) use
``COURIER_REDIS_URL=sentinel://.../courier/0``. A job run before the failover is in
Flower's ``/api/tasks``; the primary is SIGKILLed, the sentinels promote the replica, and
a job submitted afterwards must show up in Flower's API as ``SUCCESS``: Flower's event
consumer reconnected to the new primary (through Sentinel), not to the dead address.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.brokerprocs import produce, worker_env, workers
from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import serving
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redissentinel import SentinelGroup
from worker.contrib.redisserver import free_port

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(240)]

SCENARIO = "Flower on sentinel:// through a Sentinel failover (primary SIGKILLed)"
USER, PASSWORD = "ops", "flower-sentinel-pw"


def _tasks(url: str) -> dict[str, dict[str, Any]]:
    pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"{url}/api/tasks", headers={"Authorization": f"Basic {pair}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            tasks: dict[str, dict[str, Any]] = json.load(answer)
    except (urllib.error.URLError, TimeoutError):
        return {}
    return tasks


def _succeeded(url: str, job_id: str) -> bool:
    return _tasks(url).get(job_id, {}).get("state") == "SUCCESS"


def test_flower_follows_a_sentinel_failover(
    synthetic_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    with SentinelGroup(replicas=1, sentinels=3, down_after_milliseconds=1000) as group:
        env = worker_env(group.url, synthetic_emulator.endpoint_url)
        flower_env = {**env, "COURIER_FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"}
        port = free_port()
        args = ["flower", "--port", str(port), "--db", str(tmp_path / "flower.db")]
        log_path = tmp_path / "flower.log"
        with (
            workers(1, env, tmp_path) as [worker],
            serving(
                args, env=flower_env, log_path=log_path, health_path="/healthcheck", port=port
            ) as url,
        ):
            _shown(url, env, "user0000041", timeout_seconds=60)
            old = (group.primary.host, group.primary.port)
            group.primary.client().wait(1, 2000)
            group.primary.stop(kill=True)
            killed_at = time.monotonic()
            group.wait_for_new_primary(old, timeout_seconds=30)
            _shown(url, env, "user0000042", timeout_seconds=60)
            seen_seconds = time.monotonic() - killed_at
            alive = worker.alive
        log = log_path.read_text(encoding="utf-8", errors="replace")
    record(
        SCENARIO,
        "seconds from the kill to the next job shown SUCCESS in Flower",
        round(seen_seconds, 1),
    )
    assert alive
    assert PASSWORD not in log
    assert "Traceback" not in log, log[-3000:]


def _shown(url: str, env: dict[str, str], user: str, *, timeout_seconds: float) -> str:
    """Submit a job for ``user`` until Flower shows one ``SUCCESS`` (Flower must be
    listening to the worker's events: a job run before that is never shown); its id."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        [job_id] = produce(env, [user])

        def seen(job: str = job_id) -> bool:
            return _succeeded(url, job)

        try:
            wait_until(seen, timeout_seconds=8, what="the job")
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            continue
        return job_id
