"""A worker killed with SIGKILL mid-campaign: every user still ends in a terminal state.

The first worker is a real ``celery -A worker.app worker`` process; the in-process test
worker shares the queue. After the kill, the rows that process held stay ``running``
until their lease (10 s here) runs out; the timer pump then leases their chunks again and
the surviving worker sends exactly those rows again, counted as ``redelivered``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tasks.campaigns import campaign_status, start_campaign
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, usernames
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.processes import stop_process
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 10


def _spawn_worker(
    settings: Settings, emulator: EmulatorHandle, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COURIER_REDIS_URL": settings.redis_url,
        "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
        "COURIER_VISIBILITY_TIMEOUT_SECONDS": str(LEASE_SECONDS),
        "COURIER_RETRY_MAX_SECONDS": "2",
        "COURIER_PERMIT_WAIT_MAX_SECONDS": "2",
        "COURIER_READ_TIMEOUT_SECONDS": "2",
        "COURIER_RATE_LIMIT": "5000",
        "COURIER_BULK_SHARE": "1",
        "PYTHONWARNINGS": "ignore",
    }
    command = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
    options = ["-Q", "interactive,bulk", "--pool", "threads", "-c", "8", "-l", "INFO"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, *options], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_sigkill_mid_campaign_leaves_no_user_behind(
    celery_worker: Any, settings: Settings, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(latency={"fixed_ms": 4.0})
    log = tmp_path / "worker.log"
    worker = _spawn_worker(settings, emulator, log)
    try:
        path = tmp_path / "users.txt"
        path.write_text("\n".join(usernames(1, 2000)) + "\n", encoding="utf-8")
        deadline = time.monotonic() + 60  # on a loaded machine it may take a while
        while " ready." not in log.read_text(errors="replace"):
            assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the worker process never got ready"
            time.sleep(0.1)
        doc = start_campaign(
            CLIENT_ID, file=path, chunk_size=100, window=12, lease_seconds=LEASE_SECONDS
        )
        while campaign_status(doc["id"])["counts"]["succeeded"] < 400:
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        final = wait_for(campaign_status, doc["id"], timeout=60)
    finally:
        stop_process(worker, kill=True)
        emulator.configure(latency={"fixed_ms": 0.0})
    assert final["counts"]["succeeded"] == 2000
    assert sum(final["counts"].values()) == 2000
    sent = Counter(d["username"] for d in emulator.deliveries())
    assert set(sent) == set(usernames(1, 2000))
    repeats = sum(n - 1 for n in sent.values())
    assert repeats <= final["redelivered"]  # only rows in flight at the kill repeat
    # members leased x most rows claimed at once (batches grow from 4 to claim_rows, 16)
    assert 1 <= final["redelivered"] <= 12 * 16
