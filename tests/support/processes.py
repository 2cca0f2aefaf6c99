"""Real processes for the tests: ``courier`` commands, an emulator and workers as subprocesses.

* the emulator as a subprocess (``courier emulator --port P`` plus fault flags),
  :class:`EmulatorProcess`;
* real ``courier worker`` subprocesses, :class:`WorkerProcess`: started, SIGKILLed or
  SIGTERMed, their exit status and their log (a file per worker) kept for the assertions;
* a ``courier`` server command (api, flower, metrics) until its health path answers,
  :func:`serving`;
* producers as an operator runs them (``courier campaign start --json`` ...), :func:`courier`,
  and as a backend service does, :func:`submit_resends`.

Everything started is ended through :func:`worker.contrib.processes.stop_process`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from tests.support.polling import wait_until
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.processes import stop_process
from worker.contrib.redisserver import free_port

ROOT = Path(__file__).resolve().parents[2]


def courier_command() -> list[str]:
    """The ``courier`` console script of this environment (as installed by ``make``)."""
    script = Path(sys.executable).with_name("courier")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "worker.cli"]


def run(
    command: Sequence[str], *, env: dict[str, str], timeout_seconds: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end with ``env``; returns the finished process (text output)."""
    return subprocess.run(
        list(command),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def courier(
    *args: str, env: dict[str, str], timeout_seconds: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``courier ARGS`` to its end (an operator's command); returns the finished process."""
    return run([*courier_command(), *args], env=env, timeout_seconds=timeout_seconds)


class EmulatorProcess:
    """``courier emulator`` in a subprocess on a free port; its log in ``log_path``.

    Args:
        log_path: where the emulator's stdout and stderr go.
        flags: more ``courier emulator`` options, e.g. ``["--fault-drop", "0.02"]``.
    """

    def __init__(self, log_path: Path, flags: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.flags = list(flags)
        self.handle = EmulatorHandle(self.endpoint_url, region="us-east-1")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_seconds: float = 60) -> EmulatorProcess:
        """Start it and wait until ``/_emulator/health`` answers."""
        command = [*courier_command(), "emulator", "--port", str(self.port), *self.flags]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

        def healthy() -> bool:
            assert self._process is not None
            if self._process.poll() is not None:
                raise AssertionError(
                    f"the emulator exited ({self._process.returncode}): {self.log_path}"
                )
            try:
                self.handle.health()
            except OSError:
                return False
            return True

        wait_until(healthy, timeout_seconds=timeout_seconds, what="the emulator")
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)


class WorkerProcess:
    """One real ``courier worker`` process with its own log file.

    Args:
        name: the Celery node name's left part (``name@host``) and the log's file name.
        env: the complete environment (``COURIER_*`` settings) for the worker.
        log_dir: folder for ``<name>.log``.
        args: more ``courier worker`` options (``-c 8``, ``-Q bulk``).
    """

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, args: Sequence[str] = ()):
        self.name = name
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self, *, wait_ready_seconds: float | None = 60) -> WorkerProcess:
        """Start the worker; with ``wait_ready_seconds``, wait for its ``ready.`` line."""
        command = [
            *courier_command(),
            "worker",
            "--hostname",
            f"{self.name}@%h",
            "--loglevel",
            "INFO",
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.started_at = time.time()
        if wait_ready_seconds is not None:
            self.wait_ready(timeout_seconds=wait_ready_seconds)
        return self

    @property
    def pid(self) -> int:
        """The worker's process id (it must have been started)."""
        assert self.process is not None, f"worker {self.name} was never started"
        return self.process.pid

    def log(self) -> str:
        """Everything the worker wrote so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, *, timeout_seconds: float = 60) -> None:
        """Wait for Celery's ``ready.`` line (the consumer is connected and consuming)."""

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"worker {self.name} exited ({self.process.returncode}) before it was "
                    f"ready; log {self.log_path}:\n{self.log()[-3000:]}"
                )
            return " ready." in self.log()

        wait_until(ready, timeout_seconds=timeout_seconds, what=f"worker {self.name} ready")

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited (negative: killed by that signal)."""
        return None if self.process is None else self.process.poll()

    def kill(self) -> float:
        """SIGKILL the worker (no shutdown at all); returns the epoch time of the kill."""
        at = time.time()
        os.kill(self.pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=10)
        return at

    def terminate(self) -> float:
        """SIGTERM (Celery's warm shutdown: finish what runs, take nothing new); returns when."""
        at = time.time()
        os.kill(self.pid, signal.SIGTERM)
        return at

    def wait_exit(self, *, timeout_seconds: float) -> int:
        """Wait for the process to end; returns its exit status.

        Raises:
            AssertionError: it still runs after ``timeout_seconds``.
        """
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.name} still running {timeout_seconds:g} s later"
            ) from None

    def stop(self) -> None:
        """End the worker if it still runs (SIGTERM, then SIGKILL after 20 s)."""
        if self.process is not None:
            stop_process(self.process, grace_seconds=20)


def unacked_messages(client: redis.Redis) -> int:
    """Messages kombu holds as delivered but not acknowledged (its ``unacked`` hash)."""
    return int(client.hlen("unacked"))


def read_json(text: str) -> Any:
    """The one JSON document a ``--json`` command printed (the error names the output)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"not one JSON document: {text[:2000]!r}") from None


_SUBMIT = """
import json, sys
from tasks import submit_resend
client_id, names = sys.argv[1], sys.argv[2:]
print(json.dumps([submit_resend(client_id, name) for name in names]))
"""


def submit_resends(env: dict[str, str], client_id: str, names: Sequence[str]) -> list[str]:
    """Submit one ResendConfirmationCode job per name through the Python API, from a producer
    process of its own (as a backend service does); returns the job ids in order."""
    done = run([sys.executable, "-c", _SUBMIT, client_id, *names], env=env, timeout_seconds=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ids: list[str] = read_json(done.stdout)
    return ids


def start_campaign(env: dict[str, str], path: Path, client_id: str, *options: str) -> str:
    """``courier campaign start --file PATH --json`` as an operator runs it; the campaign id."""
    done = courier(
        "campaign", "start", "--client-id", client_id, "--file", str(path), "--json", *options,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    document = read_json(done.stdout)
    campaign_id: str = document["id"]
    return campaign_id


def tasks_received(log: str) -> set[str]:
    """Task ids a worker's INFO log says it received (``Task name[id] received``)."""
    return set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", log))


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
        stop_process(process, grace_seconds=30)


@contextmanager
def serving_api(env: dict[str, str], *, log_path: Path, port: int | None = None) -> Iterator[str]:
    """A real ``courier api`` on ``port`` (default: a free one) until the block ends; yields
    its URL once ``/healthz`` answers 200."""
    port = free_port() if port is None else port
    with serving(
        ["api", "--port", str(port)], env=env, log_path=log_path, health_path="/healthz", port=port
    ) as url:
        yield url
