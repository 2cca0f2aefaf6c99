"""The observability tests' stack: a private Redis, the emulator and a worker as processes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis

from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, submit_resends
from tests.support.synthetic import CLIENT_ID, SEAL_KEY
from worker.status import TERMINAL_STATES

API_TOKEN = "t0ken-observe"


@dataclass
class Stack:
    """What an observability test may use: processes, their addresses, a Redis client."""

    redis_url: str
    client: redis.Redis
    emulator: EmulatorProcess
    worker: WorkerProcess
    metrics_port: int
    env: dict[str, str]
    logs_dir: Path

    def submit(self, *names: str) -> list[str]:
        """One ResendConfirmationCode job per name, from a producer process; the job ids."""
        return submit_resends(self.env, CLIENT_ID, list(names))

    def wait_terminal(self, job_id: str, *, timeout_seconds: float = 30) -> str:
        """Wait until the job's status document is terminal; returns its state."""

        def state() -> str | None:
            value = cast("bytes | None", self.client.hget(f"courier:job:{job_id}", "state"))
            text = value.decode() if value is not None else None
            return text if text in TERMINAL_STATES else None

        return wait_until(state, timeout_seconds=timeout_seconds, what=f"job {job_id} terminal")


def stack_env(redis_url: str, endpoint_url: str, **settings: object) -> dict[str, str]:
    """A complete environment for courier processes of the stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    env.update(
        {
            "COURIER_REDIS_URL": redis_url,
            "COURIER_COGNITO_ENDPOINT_URL": endpoint_url,
            "COURIER_SEAL_KEY": SEAL_KEY,
            "COURIER_RETRY_BASE_SECONDS": "0.05",
            "COURIER_RETRY_CAP_SECONDS": "0.2",
            "AWS_ACCESS_KEY_ID": "observe",
            "AWS_SECRET_ACCESS_KEY": "observe",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"COURIER_{k.upper()}": str(v) for k, v in settings.items()})
    return env
