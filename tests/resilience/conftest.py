"""Fixtures of the resilience suite: a private AOF Redis, the emulator and workers as processes.

Each test gets its own ``redis-server`` (AOF on, so a restart keeps every key) and starts
what else it needs through the factories below; everything it started is stopped at
teardown, and a failed test prints the tail of every worker's log. The suite is marked
``resilience`` (deselected by the plain ``pytest`` run, selected by ``make test-resilience``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.campaigns import (
    CAMPAIGN_EMULATOR_FLAGS,
    CAMPAIGN_RATE,
    CAMPAIGN_USERS,
    CampaignRun,
    CampaignWatch,
    user_file,
)
from tests.support.failover import EMULATOR_USERS
from tests.support.figures import FIGURES
from tests.support.processes import EmulatorProcess, WorkerProcess, start_campaign
from tests.support.synthetic import CLIENT_ID, SEAL_KEY, usernames
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator
from worker.contrib.redisserver import PrivateRedis


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the item, so teardown knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the scenarios recorded; write them as JSON when asked to."""
    if not FIGURES.rows:
        return
    terminalreporter.section("resilience figures (targets in docs/resilience.md)")
    for line in FIGURES.table():
        terminalreporter.write_line(line)
    path = os.environ.get("COURIER_RESILIENCE_FIGURES")
    if path:
        rows = [row.as_dict() for row in FIGURES.rows]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        terminalreporter.write_line(f"figures written to {path}")


@pytest.fixture
def aof_redis() -> Iterator[PrivateRedis]:
    """A ``redis-server`` of this test's own, AOF on (``appendfsync always``)."""
    server = PrivateRedis(appendonly=True)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def aof_client(aof_redis: PrivateRedis) -> Iterator[redis.Redis]:
    """A client of :func:`aof_redis` (it reconnects by itself after a restart)."""
    client = redis.Redis.from_url(aof_redis.url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def logs_dir(tmp_path: Path) -> Path:
    """Where the processes of this test write their logs."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def start_emulator(logs_dir: Path) -> Iterator[Callable[..., EmulatorProcess]]:
    """``start_emulator(*flags)``: ``courier emulator`` on a free port, stopped at teardown."""
    started: list[EmulatorProcess] = []

    def start(*flags: str) -> EmulatorProcess:
        emulator = EmulatorProcess(logs_dir / f"emulator-{len(started)}.log", flags)
        started.append(emulator)
        return emulator.start()

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def worker_env(aof_redis: PrivateRedis) -> Callable[..., dict[str, str]]:
    """``worker_env(endpoint, **settings)``: a complete environment for courier processes.

    Keyword arguments are COURIER_ settings without the prefix (``rate_limit=60``).
    """

    def build(endpoint_url: str, **settings: Any) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
        env.update(
            {
                "COURIER_REDIS_URL": aof_redis.url,
                "COURIER_COGNITO_ENDPOINT_URL": endpoint_url,
                "COURIER_SEAL_KEY": SEAL_KEY,
                "AWS_ACCESS_KEY_ID": "resilience",
                "AWS_SECRET_ACCESS_KEY": "resilience",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({f"COURIER_{k.upper()}": str(v) for k, v in settings.items()})
        return env

    return build


@pytest.fixture
def start_worker(
    logs_dir: Path, request: pytest.FixtureRequest, aof_redis: PrivateRedis
) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(name, env, *args, wait_ready_seconds=60)``: a real ``courier worker``.

    Every worker still running at teardown is stopped (before the test's Redis is); a
    failed test prints the tail of each worker's log.
    """
    started: list[WorkerProcess] = []

    def start(
        name: str, env: dict[str, str], *args: str, wait_ready_seconds: float | None = 60
    ) -> WorkerProcess:
        worker = WorkerProcess(name, env, logs_dir, args)
        started.append(worker)
        return worker.start(wait_ready_seconds=wait_ready_seconds)

    yield start
    for worker in started:
        worker.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for worker in started:
            print(f"\n----- {worker.name} (exit {worker.returncode}): {worker.log_path}")
            print(worker.log()[-4000:])


@pytest.fixture
def campaign_on_two_workers(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
    tmp_path: Path,
) -> Iterator[Callable[..., CampaignRun]]:
    """``campaign_on_two_workers(name_a, name_b)``: the campaign scenarios' common start.

    Default settings (15-s lease, 3-s heartbeat, 2-s watchdog, 900-s visibility timeout)
    but a 60 calls/s budget all for bulk; chunks of 100 rows so the window (15 members)
    spreads over both workers. The campaign's status is sampled from the start.
    """

    def start(first: str, second: str) -> CampaignRun:
        emulator = start_emulator(*CAMPAIGN_EMULATOR_FLAGS)
        env = worker_env(emulator.endpoint_url, rate_limit=CAMPAIGN_RATE, bulk_share=1)
        workers = (start_worker(first, env), start_worker(second, env))
        names = usernames(1, CAMPAIGN_USERS)
        path = user_file(tmp_path, names)
        campaign_id = start_campaign(env, path, CLIENT_ID, "--chunk-size", "100")
        watch = CampaignWatch(aof_client, campaign_id).__enter__()
        runs.append(watch)
        return CampaignRun(emulator, env, workers, campaign_id, names, watch)

    runs: list[CampaignWatch] = []
    yield start
    for watch in runs:
        watch.__exit__()


@pytest.fixture
def synthetic_emulator() -> Iterator[EmulatorHandle]:
    """An in-process emulator with a synthetic pool (user0000001 ...) and no quota."""
    config = EmulatorConfig(synthetic_users=200, user_resource_read_per_second=None)
    with running_emulator(config) as handle:
        yield handle


@pytest.fixture
def campaign_emulator() -> Iterator[EmulatorHandle]:
    """An in-process emulator serving the failover scenarios' campaign (synthetic users
    ``user0000001`` .. ``EMULATOR_USERS``), no quota and no per-user hourly cap."""
    config = EmulatorConfig(
        synthetic_users=EMULATOR_USERS, user_resource_read_per_second=None, per_user_hourly_cap=0
    )
    with running_emulator(config) as handle:
        yield handle
