"""Real ``courier worker`` processes on a private Redis, for the broker scenarios of issue 9.

Each worker is the installed ``courier worker`` console script in a subprocess, with its
log in a file of its own, so a test can count the lines an outage produced and see every
exit. :class:`Workers` stops whatever is still running at the end (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]
SEAL_KEY = "Mzs5J0o1m6wE1CQj4oZC3u9aU0q9n2b0f3QJx7mY2aE="
CLIENT_ID = "synthetic0client0000000001"
T = TypeVar("T")


def courier_command() -> list[str]:
    """The ``courier`` console script of this environment."""
    script = Path(sys.executable).with_name("courier")
    return [str(script)] if script.exists() else [sys.executable, "-m", "worker.cli"]


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


def wait_until(check: Callable[[], T | None], *, timeout_seconds: float, what: str) -> T:
    """Poll ``check`` every 0.1 s until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds:g} s waiting for {what}")
        time.sleep(0.1)


class Worker:
    """One ``courier worker`` subprocess and its log file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [*courier_command(), "worker", "-c", "4", "-n", f"{name}@%h", "-l", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        """Everything the worker wrote so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def ready(self) -> bool:
        """True once Celery said the worker is ready."""
        return f"{self.name}@" in self.log() and " ready." in self.log()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def stop(self, *, grace_seconds: float = 20) -> int:
        """SIGTERM, then SIGKILL after ``grace_seconds``; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


@contextmanager
def workers(
    count: int, env: dict[str, str], logs: Path, *, wait_ready: bool = True
) -> Iterator[list[Worker]]:
    """``count`` workers, ready (unless told not to wait); all stopped at the end."""
    started = [Worker(f"w{i}", env, logs / f"w{i}.log") for i in range(count)]
    try:
        if wait_ready:
            for worker in started:
                wait_until(worker.ready, timeout_seconds=60, what=f"{worker.name} ready")
        yield started
    except BaseException:
        for worker in started:
            sys.stderr.write(f"--- {worker.name} log (tail) ---\n{worker.log()[-4000:]}\n")
        raise
    finally:
        for worker in started:
            worker.stop()
