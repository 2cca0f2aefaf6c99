"""Fixtures for the identity tests: the pools of :class:`tests.support.pools.Pools`, settings
whose registry names them, and a worker that stops consuming."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.pools import Pools
from worker.app import BULK_QUEUE, INTERACTIVE_QUEUE, app
from worker.contrib.emulator import EmulatorHandle
from worker.runtime import Runtime
from worker.settings import Settings


@pytest.fixture
def pools(emulator: EmulatorHandle) -> Pools:
    """A case-insensitive pool with two clients and a case-sensitive pool with one."""
    return Pools.make(emulator)


@pytest.fixture
def settings(make_settings: Any, pools: Pools, tmp_path: Path) -> Settings:
    """The suite's settings, with COURIER_CLIENTS naming the pools above."""
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(pools.registry), encoding="utf-8")
    result: Settings = make_settings(clients=path)
    return result


@pytest.fixture
def paused_worker(celery_worker_session: Any, runtime: Runtime) -> Iterator[None]:
    """The worker stops consuming: submissions stay queued until the test lets it go."""
    hostname = [celery_worker_session.hostname]
    for queue in (INTERACTIVE_QUEUE, BULK_QUEUE):
        assert app.control.cancel_consumer(queue, destination=hostname, reply=True)
    try:
        yield
    finally:
        app.control.purge()  # what the test left queued is not the next test's
        for queue in (INTERACTIVE_QUEUE, BULK_QUEUE):
            app.control.add_consumer(queue, destination=hostname, reply=True)
