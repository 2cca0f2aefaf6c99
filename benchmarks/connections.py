"""How many Redis connections a worker (by ``-c``), a front and Flower hold: CLIENT LIST.

    .venv/bin/python -m benchmarks.connections [--concurrency 1,4,8,16] [--jobs-per-thread 4]

Each process runs alone against a fresh private ``redis-server``; its connections are
counted with ``CLIENT LIST`` (this script's own connection left out) when it is idle
after start-up, and at the most seen (sampled every 0.1 s) while it works: for a worker,
a burst of ``--jobs-per-thread`` x ``-c`` jobs; for the front, concurrent HTTP requests
(job status reads and submissions); for Flower, its pages and API. The figures are the
ones docs/deploy.md turns into the sizing formula.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import redis

from benchmarks.harness import free_port, processes, running_emulator_process, wait_until
from worker.contrib.redisserver import PrivateRedis
from worker.sealing import generate_key

PUBLIC_CLIENT_ID = "synthetic0client0000000001"
TOKEN = "bench-connections-token"


def _count(client: redis.Redis) -> int:
    return len(client.client_list()) - 1  # not this script's own connection


@contextmanager
def _peak(client: redis.Redis) -> Iterator[list[int]]:
    """Sample the connection count every 0.1 s in the block; the list holds the most."""
    most = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            most[0] = max(most[0], _count(client))
            stop.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield most
    finally:
        stop.set()
        thread.join()


def _settle(client: redis.Redis, *, seconds: float = 3.0) -> int:
    """The count once it has not changed for ``seconds``."""
    last, since = _count(client), time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() - since < seconds and time.monotonic() < deadline:
        time.sleep(0.2)
        now = _count(client)
        if now != last:
            last, since = now, time.monotonic()
    return last


def _env(url: str, endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "COURIER_REDIS_URL": url,
        "COURIER_COGNITO_ENDPOINT_URL": endpoint,
        "COURIER_RATE_LIMIT": "10000",
        "COURIER_SEAL_KEY": generate_key(),
        "COURIER_API_TOKENS": TOKEN,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }


def _worker(concurrency: int, endpoint: str, jobs_per_thread: int) -> tuple[int, int]:
    with PrivateRedis() as server:
        client = server.client()
        env = _env(server.url, endpoint)
        command = [sys.executable, "-m", "worker.cli", "worker", "-c", str(concurrency)]
        with processes([[*command, "-l", "WARNING"]], env=env, quiet=True):
            wait_until(lambda: _count(client) > 0, timeout_seconds=120, what="the worker")
            idle = _settle(client)
            submit = [sys.executable, "-c", _SUBMIT, str(concurrency * jobs_per_thread)]
            with _peak(client) as most, processes([submit], env=env, quiet=True) as (proc,):
                proc.wait(timeout=600)
            busy = most[0] - 1  # the submitting process's own connection
        client.close()
    return idle, busy


_SUBMIT = """
import sys
from tasks import submit_resend, wait
count = int(sys.argv[1])
ids = [submit_resend("synthetic0client0000000001", f"user{n:07d}") for n in range(1, count + 1)]
for job_id in ids:
    wait(job_id, timeout_seconds=300)
"""


def _http_process(
    command: list[str], port: int, paths: list[str], endpoint: str, *, auth: bool
) -> tuple[int, int]:
    with PrivateRedis() as server:
        client = server.client()
        env = _env(server.url, endpoint)
        with processes([command], env=env, quiet=True):
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: _answers(base + paths[0], auth), timeout_seconds=120, what=base)
            idle = _settle(client)
            with _peak(client) as most, ThreadPoolExecutor(16) as pool:
                for _ in range(4):
                    list(pool.map(lambda p: _answers(base + p, auth), paths * 8))
            busy = most[0]
        client.close()
    return idle, busy


def _answers(url: str, auth: bool) -> bool:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return bool(answer.status)
    except OSError as exc:
        return getattr(exc, "code", None) is not None  # an HTTP error answered


def main() -> None:
    """Measure each process kind and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--jobs-per-thread", type=int, default=4)
    args = parser.parse_args()
    rows: list[tuple[str, int, int]] = []
    emulator_args = [
        "--users",
        "1000",
        "--rate-user-resource-read",
        "0",
        "--per-user-hourly-cap",
        "0",
    ]
    with running_emulator_process(*emulator_args) as emulator:
        endpoint = emulator.endpoint_url
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            idle, busy = _worker(concurrency, endpoint, args.jobs_per_thread)
            rows.append((f"worker -c {concurrency}", idle, busy))
        port = free_port()
        api = [
            sys.executable,
            "-m",
            "worker.cli",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        job = "/jobs/6f1c2a8e-0000-4000-8000-000000000000"
        submit = f"/?Action=ResendConfirmationCode&ClientId={PUBLIC_CLIENT_ID}&Username=user0000001"
        rows.append(
            (
                "front (courier api)",
                *_http_process(api, port, [job, submit, "/healthz"], endpoint, auth=True),
            )
        )
        port = free_port()
        flower = [sys.executable, "-m", "worker.cli", "flower", "--dev", "--port", str(port)]
        pages: list[str] = ["/", "/api/workers", "/api/queues/length", "/tasks"]
        with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
            # Flower writes its state file (flower.db) in its working folder: not the repo's.
            flower_figures = _http_process(flower, port, pages, endpoint, auth=False)
        rows.append(("flower (courier flower)", *flower_figures))
    print("Redis connections (CLIENT LIST, one process alone on a private redis-server)")
    print(f"{'process':<26}{'idle':>6}{'busy (most)':>13}")
    for name, idle, busy in rows:
        print(f"{name:<26}{idle:>6}{busy:>13}")


if __name__ == "__main__":
    main()
