"""Under CPU saturation, a burst of short jobs on one real worker: the heartbeat neither
steals (0 redeliveries, one code per user) nor cries wolf (no "taken by another holder").

Issue 22 saw that line 33 times in a 20,000-job burst with no worker dead, and it came back
in benchmarks.job_path: the heartbeat reads what it holds, then renews it, and a job that
finished in between had released its own lease. A beat every 50 ms and two busy loops on
the cores make that window easy to hit (before the fix this test logged the line).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.processes import EmulatorProcess, WorkerProcess, submit_resends
from tests.support.stack import stack_env
from tests.support.synthetic import CLIENT_ID, usernames
from worker.contrib.redisserver import PrivateRedis
from worker.status import REDELIVERED_KEY

JOBS = 600
TERMINAL = (b"succeeded", b"failed", b"skipped")


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Two busy loops (this machine's cores) for the duration of the test."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)


@pytest.mark.usefixtures("busy_cores")
def test_a_burst_under_busy_cores_neither_steals_nor_cries_wolf(tmp_path: Path) -> None:
    emulator = EmulatorProcess(
        tmp_path / "emulator.log", ["--users", str(JOBS), "--rate-user-resource-read", "0"]
    )
    with PrivateRedis() as server:
        emulator.start()
        env = stack_env(
            server.url,
            emulator.endpoint_url,
            rate_limit=10000,
            heartbeat_seconds=0.05,  # 20 beats a second: many beats meet a job's finish
            lease_seconds=15,
        )
        worker = WorkerProcess("burst", env, tmp_path, ["-c", "8"]).start()
        try:
            jobs = submit_resends(env, CLIENT_ID, usernames(1, JOBS))
            with redis.Redis.from_url(server.url) as client:
                deadline = time.monotonic() + 240
                states: list[bytes | None] = []
                while time.monotonic() < deadline:
                    pipe = client.pipeline(transaction=False)
                    for job in jobs:
                        pipe.hget(f"courier:job:{job}", "state")
                    states = pipe.execute()
                    if all(state in TERMINAL for state in states):
                        break
                    time.sleep(0.5)
                assert states.count(b"succeeded") == JOBS, {s: states.count(s) for s in set(states)}
                assert client.get(REDELIVERED_KEY) in (None, b"0")
            deliveries = emulator.handle.deliveries()
            assert len(deliveries) == JOBS, len(deliveries)
        finally:
            worker.stop()
            emulator.stop()
    log = worker.log()
    assert "was taken by another holder" not in log, [
        line for line in log.splitlines() if "another holder" in line
    ][:5]
    assert "sending again" not in log
