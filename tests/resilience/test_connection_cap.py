"""Redis at its ``maxclients`` cap: the worker's lost/back lines stay true.

A real ``courier worker -c 4`` holds its connections (counted with CLIENT LIST); then the
test kills every other client and lowers ``maxclients`` to 1 (its own connection), so
every reconnection is refused with ``ERR max number of clients reached``, for 8 s; then
the cap is lifted. The worker does not exit, logs one "lost the connection" line for the
episode and one "answers again" line, only after the cap was lifted (never for a
connection Redis refused), and a job submitted afterwards succeeds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis

from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, courier
from tests.support.synthetic import CLIENT_ID
from worker.contrib.redisserver import PrivateRedis

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

CAPPED_SECONDS = 8.0
LOST = "lost the connection to Redis"
BACK = "answers again after"


def test_the_lost_and_back_lines_are_true_at_the_connection_cap(
    *,
    aof_redis: PrivateRedis,
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
) -> None:
    emulator = start_emulator("--users", "50")
    env = worker_env(emulator.endpoint_url)
    worker = start_worker("capped", env, "-c", "4")
    admin = redis.Redis.from_url(aof_redis.url, socket_timeout=5)
    time.sleep(3)  # the worker's pools settle
    held = len(admin.client_list()) - 1
    assert held >= 5, held
    before = len(worker.log())

    admin.config_set("maxclients", 1)
    admin.client_kill_filter(_type="normal", skipme=True)
    admin.client_kill_filter(_type="pubsub", skipme=True)
    time.sleep(CAPPED_SECONDS)
    capped_log = worker.log()[before:]
    refused = int(admin.info("stats").get("rejected_connections", 0))
    admin.config_set("maxclients", 10000)
    lifted = len(worker.log())

    wait_until(
        lambda: BACK in worker.log()[lifted:], timeout_seconds=60, what="the worker to say back"
    )
    done = courier(
        "resend", "--client-id", CLIENT_ID, "--username", "user0000001", "--wait", "--json",
        env=env, timeout_seconds=120,
    )  # fmt: skip
    episode = worker.log()[before:]
    scenario = "Redis at maxclients (cap 1 for 8 s) under a worker -c 4"
    record(scenario, "connections the worker held before", held)
    record(scenario, "connections Redis refused while capped", refused)
    record(
        scenario,
        "consumer 'lost' lines",
        episode.count(LOST),
        target="1",
        met=episode.count(LOST) == 1,
    )
    record(
        scenario,
        "consumer 'back' lines while capped",
        capped_log.count(BACK),
        target="0",
        met=capped_log.count(BACK) == 0,
    )
    assert refused > 0, "no reconnection was refused: the cap was never met"
    assert worker.alive, episode[-3000:]
    assert episode.count(LOST) == 1, episode[-4000:]
    assert capped_log.count(BACK) == 0, capped_log[-4000:]
    assert episode.count(BACK) == 1, episode[-4000:]
    assert "Traceback" not in episode, episode[-4000:]
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert json.loads(done.stdout)["state"] == "succeeded"
