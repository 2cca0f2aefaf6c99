"""Real ``courier worker`` processes on a private Redis, for the broker scenarios.

Each worker is the installed ``courier worker`` console script in a subprocess, with its
log in a file of its own, so a test can count the lines an outage produced and see every
exit. :func:`workers` stops whatever is still running at the end (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import ROOT, WorkerProcess
from tests.support.synthetic import CLIENT_ID, SEAL_KEY

__all__ = [
    "collect",
    "produce",
    "start_producer",
    "worker_env",
    "workers",
]


def worker_env(redis_url: str, endpoint_url: str | None, **extra: str) -> dict[str, str]:
    """Environment of a worker or producer process: this Redis, this emulator, fast calls."""
    env = {
        **os.environ,
        "COURIER_REDIS_URL": redis_url,
        "COURIER_SEAL_KEY": SEAL_KEY,
        "COURIER_RATE_LIMIT": "1000",
        "COURIER_READ_TIMEOUT_SECONDS": "30",
        "COURIER_VISIBILITY_TIMEOUT_SECONDS": "300",
        "PYTHONWARNINGS": "ignore",
        **extra,
    }
    if endpoint_url is not None:
        env["COURIER_COGNITO_ENDPOINT_URL"] = endpoint_url
    return env


@contextmanager
def workers(
    count: int, env: dict[str, str], logs: Path, *, wait_ready: bool = True
) -> Iterator[list[WorkerProcess]]:
    """``count`` workers of 4 threads, ready (unless told not to wait); all stopped at the end."""
    started: list[WorkerProcess] = []
    try:
        for i in range(count):
            started.append(
                WorkerProcess(f"w{i}", env, logs, ["-c", "4"]).start(wait_ready_seconds=None)
            )
        if wait_ready:
            for worker in started:
                worker.wait_ready(timeout_seconds=60)
        yield started
    except BaseException:
        for worker in started:
            sys.stderr.write(f"--- {worker.name} log (tail) ---\n{worker.log()[-4000:]}\n")
        raise
    finally:
        for worker in started:
            worker.stop()


_PRODUCER = """
import json, sys
import time
from tasks import submit_resend
from worker.app import app
from worker.errors import BrokerUnavailable
from worker.runtime import get_runtime
spec = json.loads(sys.argv[1])
while True:  # a producer waiting out an outage: BrokerUnavailable until Redis answers
    try:
        ids = [submit_resend(spec["client_id"], u) for u in spec["users"]]
        break
    except BrokerUnavailable:
        time.sleep(0.1)
for job_id, user, countdown in spec.get("countdown", []):
    get_runtime().statuses.create(job_id, "ResendConfirmationCode")
    app.send_task("courier.resend_confirmation_code", task_id=job_id, countdown=countdown,
                  kwargs={"job_id": job_id, "client_id": spec["client_id"], "username": user})
    ids.append(job_id)
print(json.dumps(ids))
"""


def produce(
    env: dict[str, str], users: list[str], countdown: list[tuple[str, str, float]] | None = None
) -> list[str]:
    """Submit resends from a producer process of its own; returns the job ids.

    ``countdown`` entries ``(job_id, username, seconds)`` are sent as countdown messages.
    """
    return collect(start_producer(env, users, countdown))


def start_producer(
    env: dict[str, str], users: list[str], countdown: list[tuple[str, str, float]] | None = None
) -> subprocess.Popen[str]:
    """Start a producer process submitting resends (retrying while Redis is unreachable)."""
    spec = json.dumps({"client_id": CLIENT_ID, "users": users, "countdown": countdown or []})
    return subprocess.Popen(
        [sys.executable, "-c", _PRODUCER, spec],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def collect(producer: subprocess.Popen[str], *, timeout_seconds: float = 60) -> list[str]:
    """The job ids a producer of :func:`start_producer` printed."""
    out, err = producer.communicate(timeout=timeout_seconds)
    assert producer.returncode == 0, err[-3000:]
    ids: list[str] = json.loads(out.strip().splitlines()[-1])
    return ids
