"""Shared pieces of the benchmarks: processes to start and stop, and numbers to print.

Each benchmark starts what it measures as real processes on this machine (the emulator,
``courier worker``, plain Celery workers) against a Redis database of its own (default
``redis://127.0.0.1:6379/14``, flushed at start), and stops them when done.
"""

from __future__ import annotations

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

from worker.emulator import EmulatorHandle

__all__ = [
    "BENCH_REDIS_URL",
    "free_port",
    "percentile",
    "processes",
    "running_emulator_process",
    "unsigned_client",
    "wait_until",
]

BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


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


def flush(redis_url: str = BENCH_REDIS_URL) -> redis.Redis:
    """A client on the benchmark database, emptied."""
    client = redis.Redis.from_url(redis_url)
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
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_emulator_process(*args: str) -> Iterator[EmulatorHandle]:
    """``python -m worker.emulator`` on a free port with ``args``; yields its handle."""
    port = free_port()
    command = [sys.executable, "-m", "worker.emulator", "--port", str(port), *args]
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
