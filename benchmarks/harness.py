"""Shared pieces of the benchmarks: processes to start and stop, and numbers to print.

Each benchmark starts what it measures as real processes on this machine (the emulator,
``courier worker``, plain Celery workers) against a Redis of its own, and stops them when
done. That Redis is a private ``redis-server`` started on a free port for the run
(:class:`worker.contrib.redisserver.PrivateRedis`, removed at exit), or the database that
``BENCH_REDIS_URL`` names: that one must be empty when the benchmark starts (it is
emptied between scenarios, and a benchmark never flushes a database it did not find
empty). The URL is passed on to child processes as ``BENCH_REDIS_URL``.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import boto3
import redis
from botocore import UNSIGNED
from botocore.config import Config

from worker.contrib.emulator import EmulatorHandle
from worker.contrib.processes import stop_processes
from worker.contrib.redisserver import PrivateRedis
from worker.observe.redact import mask_url

__all__ = [
    "bench_redis_url",
    "flush",
    "free_port",
    "percentile",
    "processes",
    "running_emulator_process",
    "unsigned_client",
    "wait_until",
]

_bench_redis_url: str | None = None


def bench_redis_url() -> str:
    """The benchmark's Redis: ``BENCH_REDIS_URL`` (checked empty), else a private one.

    The first call decides and exports ``BENCH_REDIS_URL`` for child processes.

    Raises:
        RuntimeError: ``BENCH_REDIS_URL`` names a database that already holds keys.
    """
    global _bench_redis_url  # noqa: PLW0603 - one Redis per benchmark process
    if _bench_redis_url is not None:
        return _bench_redis_url
    given = os.environ.get("BENCH_REDIS_URL")
    if given:
        client = redis.Redis.from_url(given)
        try:
            keys = client.dbsize()
        finally:
            client.close()
        if keys:
            raise RuntimeError(
                f"BENCH_REDIS_URL={mask_url(given)} holds {keys} keys: the benchmarks empty "
                "their database between scenarios, so they take only an empty one (or unset "
                "BENCH_REDIS_URL for a private redis-server)"
            )
        _bench_redis_url = given
    else:
        server = PrivateRedis()
        server.start()
        atexit.register(server.close)
        _bench_redis_url = server.url
        print(f"benchmark Redis: private redis-server at {server.url} ({server.binary})")
    os.environ["BENCH_REDIS_URL"] = _bench_redis_url
    return _bench_redis_url


def unsigned_client(endpoint_url: str) -> Any:
    """A bare boto3 cognito-idp client: unsigned, botocore retries off, 64 connections.

    What the baselines call Cognito with: nothing of cognito-courier in the way.
    """
    return boto3.session.Session().client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(
            signature_version=UNSIGNED,
            retries={"total_max_attempts": 1},
            max_pool_connections=64,
        ),
    )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values`` by nearest rank; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def wait_until(check: object, *, timeout_seconds: float, what: str) -> None:
    """Poll ``check()`` every 50 ms until it is true; RuntimeError after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_seconds:g} s waiting for {what}")
        time.sleep(0.05)


def flush() -> redis.Redis:
    """A client on the benchmark's own database (:func:`bench_redis_url`), emptied."""
    client = redis.Redis.from_url(bench_redis_url())
    client.flushdb()
    return client


@contextmanager
def processes(
    commands: Sequence[Sequence[str]], *, env: dict[str, str], quiet: bool = False
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run ``commands`` as child processes for the duration of the block.

    ``quiet`` drops their stdout (a Celery worker's start-up banner) from the report.
    """
    stdout = subprocess.DEVNULL if quiet else None
    started: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            started.append(
                subprocess.Popen(list(command), env=env, stdin=subprocess.DEVNULL, stdout=stdout)
            )
        yield started
    finally:
        stop_processes(started, grace_seconds=20)


@contextmanager
def running_emulator_process(*args: str) -> Iterator[EmulatorHandle]:
    """``python -m worker.contrib.emulator`` on a free port with ``args``; yields its handle."""
    port = free_port()
    command = [sys.executable, "-m", "worker.contrib.emulator", "--port", str(port), *args]
    with ExitStack() as stack:
        (process,) = stack.enter_context(processes([command], env=dict(os.environ)))
        handle = EmulatorHandle.connect(f"http://127.0.0.1:{port}")

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with status {process.returncode}")
            try:
                handle.stats()
            except OSError:
                return False
            return True

        wait_until(healthy, timeout_seconds=60, what="the emulator to answer")
        yield handle
