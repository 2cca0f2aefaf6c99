"""The resilience harness: real processes to start, hurt and watch, and figures to print.

Every scenario of ``make test-resilience`` runs against real components:

* a private ``redis-server`` with an AOF (:class:`worker.contrib.redisserver.PrivateRedis`), which a
  test may restart or kill;
* the emulator as a subprocess (``courier emulator --port P`` plus fault flags),
  :class:`EmulatorProcess`;
* real ``courier worker`` subprocesses, :class:`WorkerProcess`: started, SIGKILLed or
  SIGTERMed, their exit status and their log (a file per worker) kept for the assertions;
* producers as an operator runs them (``courier campaign start --json`` ...), :func:`courier`.

Figures recorded with :func:`record` are printed at the end of the session (the
``pytest_terminal_summary`` hook in this folder's conftest) and written as JSON to
``$COURIER_RESILIENCE_FIGURES`` when that is set.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis

from worker.campaign.store import CampaignStore
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import free_port

__all__ = [
    "FIGURES",
    "CampaignWatch",
    "EmulatorProcess",
    "Figure",
    "WorkerProcess",
    "courier",
    "courier_command",
    "longest_gap",
    "record",
    "run",
    "tasks_received",
    "recovery_seconds",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def courier_command() -> list[str]:
    """The ``courier`` console script of this environment (as installed by ``make``)."""
    script = Path(sys.executable).with_name("courier")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "worker.cli"]


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout_seconds: float,
    what: str,
    interval_seconds: float = 0.1,
) -> T:
    """Poll ``check()`` until it returns something truthy; returns that value.

    Raises:
        AssertionError: still falsy after ``timeout_seconds`` (the message names ``what``).
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds:g} s waiting for {what}")
        time.sleep(interval_seconds)


# --- figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure of a scenario, with the issue's target when there is one."""

    scenario: str
    name: str
    value: float | int | str
    target: str = ""
    met: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "name": self.name,
            "value": self.value,
            "target": self.target,
            "met": self.met,
        }


@dataclass
class _Figures:
    rows: list[Figure] = field(default_factory=list)

    def table(self) -> list[str]:
        """The figures as aligned text lines, grouped by scenario in recording order."""
        lines: list[str] = []
        scenario = None
        for row in self.rows:
            if row.scenario != scenario:
                scenario = row.scenario
                lines.append(f"{scenario}")
            value = f"{row.value:.1f}" if isinstance(row.value, float) else str(row.value)
            verdict = {True: "met", False: "MISSED", None: ""}[row.met]
            target = f"target {row.target}" if row.target else ""
            lines.append(f"  {row.name:<52} {value:>8}  {target:<28} {verdict}".rstrip())
        return lines


FIGURES = _Figures()
"""The figures of this session (one process: pytest runs the scenarios in turn)."""


def record(
    scenario: str,
    name: str,
    value: float | int | str,
    *,
    target: str = "",
    met: bool | None = None,
) -> None:
    """Keep one figure for the end-of-session table (``met`` None: no target)."""
    FIGURES.rows.append(Figure(scenario, name, value, target, met))


def recovery_seconds(
    times: Iterable[float],
    *,
    fault_at: float,
    full_rate: float,
    window_seconds: float = 2.0,
    fraction: float = 0.8,
) -> float | None:
    """Seconds from ``fault_at`` until calls run at ``fraction`` of ``full_rate`` again.

    ``times`` are the epoch seconds at which calls arrived (the emulator's delivery log).
    The rate is counted over a sliding ``window_seconds``; the answer is the end of the
    first window after the fault that reaches the rate, minus ``fault_at``. None when the
    rate never comes back within the recorded calls.
    """
    after = sorted(t for t in times if t >= fault_at)
    needed = max(1, int(full_rate * fraction * window_seconds))
    for index in range(len(after) - needed + 1):
        if after[index + needed - 1] - after[index] <= window_seconds:
            return max(0.0, after[index + needed - 1] - fault_at)
    return None


# --- processes ---------------------------------------------------------------------------


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
            _end(process)


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
            _end(self.process, grace_seconds=20)


def _end(process: subprocess.Popen[bytes], *, grace_seconds: float = 10) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


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


@dataclass(frozen=True)
class Sample:
    """One look at a campaign: when, its status document, and who held which member."""

    at: float
    status: dict[str, Any]
    owners: dict[str, str]


class CampaignWatch:
    """Samples a campaign's status and lease owners every ``interval_seconds`` in a thread.

    Redis errors while sampling (a restart under test) are skipped, not raised.
    """

    def __init__(self, client: redis.Redis, campaign_id: str, *, interval_seconds: float = 0.2):
        self.store = CampaignStore(client, campaign_id)
        self.samples: list[Sample] = []
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-watch", daemon=True)

    def __enter__(self) -> CampaignWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.store.status()
                raw = self.store.redis.hgetall(self.store.keys.owners)
            except redis.RedisError:
                self._stop.wait(self._interval)
                continue
            owners = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
            self.samples.append(Sample(time.time(), status, owners))
            self._stop.wait(self._interval)

    def latest(self) -> dict[str, Any]:
        """The latest status document (read now)."""
        status: dict[str, Any] = self.store.status()
        return status

    def wait_done(self, *, timeout_seconds: float) -> dict[str, Any]:
        """Wait for the campaign to be ``done``; returns its final status document."""

        def done() -> dict[str, Any] | None:
            try:
                status = self.latest()
            except redis.RedisError:
                return None
            return status if status["state"] == "done" else None

        return wait_until(done, timeout_seconds=timeout_seconds, what="the campaign to finish")

    def done_at(self) -> float:
        """When the campaign was first seen ``done`` (the last sample's time if never)."""
        at = self.first(lambda s: s.status["state"] == "done", after=0)
        return at if at is not None else self.samples[-1].at

    def first(self, check: Callable[[Sample], bool], *, after: float) -> float | None:
        """The time of the first sample after ``after`` for which ``check`` holds."""
        for sample in self.samples:
            if sample.at >= after and check(sample):
                return sample.at
        return None


def longest_gap(times: Iterable[float], *, start: float, end: float) -> float:
    """The longest stretch in [start, end] with no call (``times``: epoch seconds)."""
    points = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(points))


def tasks_received(log: str) -> set[str]:
    """Task ids a worker's INFO log says it received (``Task name[id] received``)."""
    return set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", log))
