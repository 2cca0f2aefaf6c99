"""A running stack to observe: a private Redis, the emulator and a ``courier worker``, as
real processes (the worker logs JSON and serves ``/metrics``), shared by this folder.

The stack has a Redis of its own, so the session's in-process worker (other folders)
never takes its jobs; producers run as their own processes (``submit_resends``), as a
backend service does.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.resilience.harness import (
    EmulatorProcess,
    WorkerProcess,
    courier_command,
    submit_resends,
    wait_until,
)
from worker.contrib.redisserver import PrivateRedis, free_port

SEAL_KEY = "Mzs5J0o1m6wE1CQj4oZC3u9aU0q9n2b0f3QJx7mY2aE="
CLIENT_ID = "synthetic0client0000000001"
"""The synthetic pool's public client (``courier emulator --users N``)."""
API_TOKEN = "t0ken-observe"
TERMINAL = {"succeeded", "failed", "skipped", "cancelled"}


@dataclass
class Stack:
    """What a test of this folder may use: processes, their addresses, a Redis client."""

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
            value = self.client.hget(f"courier:job:{job_id}", "state")
            text = value.decode() if value is not None else None
            return text if text in TERMINAL else None

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


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, emulator (100 synthetic users) and one worker: JSON logs, metrics on a port."""
    logs_dir = tmp_path_factory.mktemp("observe-logs")
    server = PrivateRedis()
    server.start()
    emulator = EmulatorProcess(logs_dir / "emulator.log", ["--users", "100"])
    worker: WorkerProcess | None = None
    try:
        emulator.start()
        metrics_port = free_port()
        env = stack_env(
            server.url, emulator.endpoint_url, log_format="json", metrics_port=metrics_port
        )
        worker = WorkerProcess("observed", env, logs_dir, ["-c", "4"]).start()
        client = redis.Redis.from_url(server.url)
        yield Stack(server.url, client, emulator, worker, metrics_port, env, logs_dir)
        client.close()
    finally:
        if worker is not None:
            worker.stop()
        emulator.stop()
        server.close()


@pytest.fixture
def idle_redis() -> Iterator[PrivateRedis]:
    """A Redis with no worker on it: what producers queue stays queued."""
    with PrivateRedis() as server:
        yield server


@contextmanager
def serving(
    args: list[str], *, env: dict[str, str], log_path: Path, health_path: str, port: int
) -> Iterator[str]:
    """Run ``courier ARGS`` (a server on ``port``) until the block ends; yields its URL
    once ``health_path`` answers 200. Its output goes to ``log_path``."""
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*courier_command(), *args], env=env, cwd=log_path.parent, stdout=log, stderr=log
        )

    def healthy() -> bool:
        assert process.poll() is None, log_path.read_text(encoding="utf-8", errors="replace")
        try:
            with urllib.request.urlopen(f"{url}{health_path}", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        wait_until(healthy, timeout_seconds=60, what=f"courier {args[0]} on {url}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def front_url(idle_redis: PrivateRedis, tmp_path: Path) -> Iterator[str]:
    """A real ``courier api`` process on ``idle_redis`` (JSON logs in ``api.log``); its URL."""
    port = free_port()
    env = stack_env(idle_redis.url, "http://127.0.0.1:9", api_tokens=API_TOKEN, log_format="json")
    with serving(
        ["api", "--port", str(port)],
        env=env,
        log_path=tmp_path / "api.log",
        health_path="/healthz",
        port=port,
    ) as url:
        yield url
