"""A Redis still loading its data (``LOADING``) is an outage, never a crash.

A Redis that restarts with a large dataset, or a replica taking its first full copy from
a new primary, answers every command ``-LOADING Redis is loading the dataset in memory``
until the load ends (Redis documentation, error replies). worker.broker.clients maps it
(redis-py's ``BusyLoadingError``, a ``ConnectionError``) to an outage with the connection
dropped. Here a real ``redis-server`` reloads a dump of 30,000 keys slowed by its
``key-load-delay`` setting (200 microseconds per key, about 6 s; the setting Redis's own
test suite uses for this), and what a user runs meets it:

* the project's client raises ``BusyLoadingError`` (after redis-py's retries), and the
  same client answers correctly once the load is over;
* ``courier status --json`` exits 3 with one ``BrokerUnavailable`` document naming the
  load, no traceback, and once the load is over answers what Redis holds (here: no such
  job, exit 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.support.processes import courier
from worker.broker.clients import client_for
from worker.broker.urls import parse_redis_url
from worker.contrib.redisserver import PrivateRedis

_KEYS = 30_000


@pytest.fixture
def loading_server() -> Iterator[PrivateRedis]:
    with PrivateRedis(
        extra_args=["--key-load-delay", "200", "--loading-process-events-interval-bytes", "1024"]
    ) as server:
        admin = server.client()
        pipe = admin.pipeline(transaction=False)
        for n in range(_KEYS):
            pipe.set(f"filler:{n}", "x")
        pipe.set("known", "value")
        pipe.execute()
        admin.save()
        admin.close()
        yield server


def _restart_in_background(server: PrivateRedis) -> threading.Thread:
    """Stop the server, start it again in a thread (start() returns once loaded), and
    return once it answers LOADING."""
    server.stop()
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    probe = redis.Redis.from_url(server.url, socket_connect_timeout=0.2, retry=None)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                probe.ping()
            except redis.BusyLoadingError:
                return starter
            except redis.ConnectionError:
                pass  # not listening yet
            else:
                raise AssertionError("the server answered before loading: too few keys?")
            time.sleep(0.02)
    finally:
        probe.close()
    raise AssertionError("the server never answered LOADING")


def _status(server: PrivateRedis) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COURIER_REDIS_URL": server.url}
    return courier("status", "0123456789abcdef0123456789abcdef", "--json", env=env)


def test_the_client_waits_out_a_load_as_an_outage(loading_server: PrivateRedis) -> None:
    client = client_for(parse_redis_url(loading_server.url), connect_timeout_seconds=2)
    try:
        assert client.get("known") == b"value"  # a pooled connection from before
        starter = _restart_in_background(loading_server)
        with pytest.raises(redis.BusyLoadingError):
            client.get("known")
        starter.join(timeout=60)
        assert not starter.is_alive()
        assert client.get("known") == b"value"
        assert client.dbsize() == _KEYS + 1
    finally:
        client.close()


def test_the_cli_says_redis_is_loading_and_exits_3(loading_server: PrivateRedis) -> None:
    starter = _restart_in_background(loading_server)
    during = _status(loading_server)
    still_loading = loading_server.client()
    try:
        with pytest.raises(redis.BusyLoadingError):
            still_loading.ping()  # the command above really ran during the load
    finally:
        still_loading.close()
    assert during.returncode == 3, (during.stdout, during.stderr)
    assert "Traceback" not in during.stderr
    error = json.loads(during.stdout)["error"]
    assert error["type"] == "BrokerUnavailable"
    assert "loading" in error["message"].lower()
    starter.join(timeout=60)
    after = _status(loading_server)
    assert after.returncode == 2, (after.stdout, after.stderr)  # Redis answers: no such job
    assert json.loads(after.stdout)["error"]["type"] == "JobNotFoundError"
