"""A running stack to observe: a private Redis, the emulator and a ``courier worker``, as
real processes (the worker logs JSON and serves ``/metrics``), shared by this folder.

The stack has a Redis of its own, so the session's in-process worker (other folders)
never takes its jobs; producers run as their own processes (``submit_resends``), as a
backend service does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.processes import EmulatorProcess, WorkerProcess, serving
from tests.support.stack import API_TOKEN, Stack, stack_env
from worker.contrib.redisserver import PrivateRedis, free_port


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
