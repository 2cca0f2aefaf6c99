"""`courier worker -c 32`: one connection per thread, no "Connection pool is full".

boto/botocore#619: a client whose ``max_pool_connections`` is below the number of
threads calling it discards connections with that warning. The pool used to be sized from
the budget (COURIER_RATE_LIMIT 40 -> 10 threads -> 12 connections); it is now sized from
the worker's real thread count. 32 threads call at once here (1 s emulator latency, 64
jobs at 40/s), so 12 connections would log the warning.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tasks import submit_resend, wait
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.processes import stop_process

THREADS = 32


@pytest.mark.usefixtures("paused_worker")  # only the subprocess consumes
def test_a_32_thread_worker_keeps_every_connection(
    redis_url: str, emulator: EmulatorHandle, pool: Any, tmp_path: Path
) -> None:
    names = [pool.add_user(f"pool-{n:02d}") for n in range(64)]
    emulator.configure(latency={"fixed_ms": 1000.0})
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "COURIER_REDIS_URL": redis_url,
        "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
        "COURIER_RATE_LIMIT": "40",
        "COURIER_COGNITO_REGION": emulator.region,
    }
    env.pop("COURIER_WORKER_CONCURRENCY", None)
    command = [sys.executable, "-m", "worker.cli", "worker", "-c", str(THREADS), "-l", "INFO"]
    with log.open("wb") as out:
        worker = subprocess.Popen([*command, "-n", "pool32@%h"], env=env, stdout=out, stderr=out)
        try:
            time.sleep(4)  # connected and consuming
            jobs = [submit_resend(pool.client_id, name) for name in names]
            states = [wait(job, timeout_seconds=60)["state"] for job in jobs]
        finally:
            emulator.configure(latency={"fixed_ms": 0.0})
            stop_process(worker, grace_seconds=30)
    text = log.read_text(errors="replace")
    assert states == ["succeeded"] * len(names), text[-2000:]
    assert "Connection pool is full" not in text
    most = max(
        sum(1 for d in emulator.deliveries() if abs(d["time"] - t) < 0.5)
        for t in [d["time"] for d in emulator.deliveries()]
    )
    assert most > 12  # more calls overlapped than the old pool of 12 could hold
