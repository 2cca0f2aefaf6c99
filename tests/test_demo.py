"""``courier demo --json`` from start to end, as ``make demo`` runs it.

It gets a private Redis server of its own, so the test session's in-process worker, which
serves another emulator, never takes its jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from worker.redisserver import PrivateRedis


def test_demo_runs_every_job_and_a_campaign_as_expected() -> None:
    with PrivateRedis() as server:
        _run_demo(server.url)


def _run_demo(redis_url: str) -> None:
    env = {**os.environ, "COURIER_REDIS_URL": redis_url}
    env.pop("COURIER_SEAL_KEY", None)  # the demo makes its own
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "demo", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["all_as_expected"] is True
    states = [job["status"]["state"] for job in document["jobs"]]
    assert states.count("succeeded") == 9
    assert states.count("failed") == 2
    assert states.count("skipped") == 1
    assert document["campaign"]["counts"]["succeeded"] == 40
    assert document["deliveries"] == 49
