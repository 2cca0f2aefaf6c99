"""Shared fixtures: a real Redis, the emulator over HTTP, a runtime and a real worker.

The environment is set before anything imports :mod:`worker.app` (which reads settings
once, at import). Tests use a private ``redis-server`` started for the session on a free
port (:class:`worker.contrib.redisserver.PrivateRedis`, removed at exit), or the Redis at
COURIER_TEST_REDIS_URL when that is set; they delete only ``courier:*`` keys between
tests, so Celery's own bindings survive for the session-wide worker. No test touches a
database it did not create.
"""

from __future__ import annotations

import atexit
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.synthetic import SEAL_KEY  # imports nothing that reads settings
from worker.contrib.redisserver import PrivateRedis

if "COURIER_TEST_REDIS_URL" not in os.environ:
    _SESSION_REDIS = PrivateRedis()
    _SESSION_REDIS.start()
    atexit.register(_SESSION_REDIS.close)
    # Child processes (real `courier worker`s, the ratelimit conftest) read the same URL.
    os.environ["COURIER_TEST_REDIS_URL"] = _SESSION_REDIS.url
TEST_REDIS_URL = os.environ["COURIER_TEST_REDIS_URL"]
os.environ["COURIER_REDIS_URL"] = TEST_REDIS_URL
os.environ.setdefault("COURIER_SEAL_KEY", SEAL_KEY)

from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator  # noqa: E402
from worker.contrib.emulator.pools import UserPool  # noqa: E402
from worker.runtime import Runtime, set_runtime  # noqa: E402
from worker.settings import Settings, load_settings  # noqa: E402

# The limiter's and the guard's backend fixtures (``backend``, ``real_redis``), one definition.
pytest_plugins = ["tests.support.backends"]

# Fast retries in tests; production defaults are in worker.settings.
FAST_RETRIES: dict[str, Any] = {
    "retry_base_seconds": 0.01,
    "retry_cap_seconds": 0.05,
    "retry_max_seconds": 5.0,
    "permit_wait_max_seconds": 5.0,
    "read_timeout_seconds": 2.0,
    "connect_timeout_seconds": 1.0,
    "visibility_timeout_seconds": 60,
}


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis the tests use."""
    return TEST_REDIS_URL


@pytest.fixture(scope="session")
def scratch_redis_url() -> Iterator[str]:
    """A second private redis-server for tests of raw store scripts.

    Keys those tests write by hand (a campaign ``t1`` with made-up fields, say) must not
    be seen by the session worker's campaign watchdog, which pumps every campaign it finds
    on the main test server.
    """
    with PrivateRedis() as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the test Redis, with every ``courier:*`` key deleted before the test."""
    client = redis.Redis.from_url(redis_url)
    client.ping()
    for key in client.scan_iter(match="courier:*", count=1000):
        client.delete(key)
    yield client
    client.close()


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[EmulatorHandle]:
    """One in-process emulator for the session, on a free port."""
    with running_emulator(EmulatorConfig()) as handle:
        yield handle


@pytest.fixture
def emulator(emulator_session: EmulatorHandle) -> EmulatorHandle:
    """The session's emulator, its deliveries, counters and caps reset for this test."""
    emulator_session.reset()
    return emulator_session


@pytest.fixture
def make_settings(redis_url: str, emulator: EmulatorHandle, tmp_path: Path) -> Any:
    """Build settings pointing at the test Redis and the emulator, with overrides."""

    def build(client_secrets: dict[str, str] | None = None, **overrides: Any) -> Settings:
        options: dict[str, Any] = {
            "redis_url": redis_url,
            "cognito_endpoint_url": emulator.endpoint_url,
            **FAST_RETRIES,
            **overrides,
        }
        if client_secrets is not None:
            path = tmp_path / "client-secrets.json"
            path.write_text(json.dumps(client_secrets), encoding="utf-8")
            options["client_secrets"] = path
        return load_settings(**options)

    return build


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    """Settings for the test Redis and the emulator, with fast retries."""
    result: Settings = make_settings()
    return result


@pytest.fixture
def runtime(settings: Settings, redis_client: redis.Redis) -> Iterator[Runtime]:
    """This process's runtime for the test (producers and the in-process worker share it)."""
    built = Runtime.from_settings(settings)
    set_runtime(built)
    yield built
    set_runtime(None)


@pytest.fixture(scope="session")
def celery_worker_session() -> Iterator[Any]:
    """A real Celery worker, in-process, threads pool, consuming both queues."""
    from celery.contrib.testing.worker import start_worker

    from worker.app import app

    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=10,
    ) as worker:
        yield worker


@pytest.fixture
def celery_worker(celery_worker_session: Any, runtime: Runtime) -> Any:
    """The session's worker, running jobs with this test's runtime."""
    return celery_worker_session


@pytest.fixture
def pool(emulator: EmulatorHandle) -> UserPool:
    """A fresh pool with a public client and a client with a secret."""
    return emulator.make_pool("courier-tests")
