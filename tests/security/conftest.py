"""The security suite's stack: a live front (uvicorn, the project's protocol) with scoped
principals and a client registry, the in-process Celery worker, the test Redis and the
emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.front import serve_in_thread
from tests.support.security import FULL_TOKEN, Stack, clients_file, tokens_file
from worker.contrib.emulator.pools import UserPool
from worker.runtime import Runtime
from worker.settings import Settings


@pytest.fixture
def settings(make_settings: Any, pool: UserPool, tmp_path: Path) -> Settings:
    """The suite's settings: a registry of the pool's clients, scoped and full tokens."""
    built: Settings = make_settings(
        clients=clients_file(tmp_path / "clients.json", pool),
        api_tokens=FULL_TOKEN,
        api_tokens_file=tokens_file(tmp_path / "api-tokens.json", pool),
        api_header_timeout_seconds=2.0,
        api_body_timeout_seconds=2.0,
    )
    return built


@pytest.fixture
def stack(
    settings: Settings, runtime: Runtime, pool: UserPool, celery_worker: Any
) -> Iterator[Stack]:
    """A live front on this test's runtime, a worker consuming both queues."""
    for front in serve_in_thread(settings):
        yield Stack(front, runtime, pool)
