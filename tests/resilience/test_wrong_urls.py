"""Every wrong COURIER_REDIS_URL answers at the door, and an ACL user can run a worker.

Through the real ``courier`` console script (process start included): an HTTP server of
the test's own on the port, a missing unix socket, a TLS-only ``redis-server`` given as
``redis://`` and a plain one given as ``rediss://``; each command exits 3 with one
``BrokerUnavailable`` document naming the cause, the password masked, no traceback.
Then a real ACL user without CONFIG and INFO (``~* &* +@all -@dangerous``): ``courier
worker`` refuses it (exit 2, the message naming NOPERM and both ways out), and with
``COURIER_REDIS_MAXMEMORY_POLICY=noeviction`` a real worker runs a job to ``succeeded``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.acl import add_managed_acl_user
from tests.support.certs import make_tls_files
from tests.support.figures import record
from tests.support.processes import EmulatorProcess, WorkerProcess, courier
from tests.support.synthetic import CLIENT_ID
from worker.contrib.redisserver import PrivateRedis, free_port

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(400)]

PASSWORD = "wrong-url-s3cret"
CONNECT_TIMEOUT_SECONDS = 3.0
SLACK_SECONDS = 5.0
"""Beyond the same command's answer on a closed port in this run (process start on a
loaded machine varies by seconds); tests/broker/test_door_wrong_urls.py bounds the door
itself by the connect timeout, in process."""
COMMANDS = (
    ("resend", "--client-id", CLIENT_ID, "--username", "user0000001"),
    ("status", "6f1c2a8e-0000-4000-8000-000000000000"),
    ("campaign", "list"),
)


@pytest.fixture
def http_port() -> Iterator[int]:
    """A tiny HTTP server of the test's own: answers 400 to whatever comes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()


def _answers(url: str, env: dict[str, str], says: str | None) -> float:
    slowest = 0.0
    for command in COMMANDS:
        started = time.monotonic()
        done = courier(*command, "--json", env={**env, "COURIER_REDIS_URL": url})
        slowest = max(slowest, time.monotonic() - started)
        where = f"{command}: exit {done.returncode}, {done.stdout!r}, {done.stderr[-1500:]!r}"
        assert done.returncode == 3, where
        error = json.loads(done.stdout)["error"]
        assert error["type"] == "BrokerUnavailable", where
        assert says is None or says in error["message"], where
        assert PASSWORD not in done.stdout + done.stderr, where
        assert "Traceback" not in done.stdout + done.stderr, where
    return slowest


def test_every_wrong_url_is_broker_unavailable_naming_the_cause(
    http_port: int, worker_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    env = worker_env("http://127.0.0.1:9")
    tls_files = make_tls_files(tmp_path / "tls")
    with PrivateRedis(tls=tls_files) as tls_only, PrivateRedis() as plain:
        cases = {
            "an HTTP server on the port": (
                f"redis://:{PASSWORD}@127.0.0.1:{http_port}/0",
                "does not speak the Redis protocol",
            ),
            "a missing unix socket": (
                f"unix://:{PASSWORD}@{tmp_path / 'none.sock'}?db=0",
                "none.sock",
            ),
            "a TLS port spoken to in clear": (
                f"redis://:{PASSWORD}@127.0.0.1:{tls_only.port}/0",
                "use rediss://",
            ),
            "a plain port spoken to in TLS": (
                f"rediss://:{PASSWORD}@127.0.0.1:{plain.port}/0?ssl_cert_reqs=required"
                f"&ssl_ca_certs={tls_files.ca_file}",
                "plain-text port",
            ),
        }
        closed = _answers(f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0", env, None)
        within = closed + CONNECT_TIMEOUT_SECONDS + SLACK_SECONDS
        scenario = "Wrong COURIER_REDIS_URL (resend, status, campaign list)"
        record(scenario, "a closed port (baseline): slowest answer, s", round(closed, 1))
        for name, (url, says) in cases.items():
            slowest = _answers(url, env, says)
            record(
                scenario,
                f"{name}: slowest answer, s (process start included)",
                round(slowest, 1),
                target=f"<= {within:.1f} s (closed port + 3 + 5), exit 3",
                met=slowest <= within,
            )
            assert slowest <= within, f"{name}: {slowest:.1f} s"


def test_an_acl_user_without_config_and_info_runs_a_worker_once_declared(
    aof_redis: PrivateRedis,
    start_emulator: Callable[..., EmulatorProcess],
    worker_env: Callable[..., dict[str, str]],
    logs_dir: Path,
) -> None:
    add_managed_acl_user(aof_redis.url, "app", PASSWORD)
    emulator = start_emulator("--users", "50")
    url = f"redis://app:{PASSWORD}@127.0.0.1:{aof_redis.port}/0"
    env = {**worker_env(emulator.endpoint_url), "COURIER_REDIS_URL": url}

    refused = WorkerProcess("acl-refused", env, logs_dir)
    refused.start(wait_ready_seconds=None)
    code = refused.wait_exit(timeout_seconds=120)
    log = refused.log()
    assert code == 2, log[-3000:]
    for part in ("NOPERM", "+config|get", "+info", "COURIER_REDIS_MAXMEMORY_POLICY=noeviction"):
        assert part in log, (part, log[-3000:])
    assert PASSWORD not in log

    declared = {**env, "COURIER_REDIS_MAXMEMORY_POLICY": "noeviction"}
    worker = WorkerProcess("acl-declared", declared, logs_dir)
    worker.start(wait_ready_seconds=120)
    try:
        done = courier(
            "resend", "--client-id", CLIENT_ID, "--username", "user0000001", "--wait", "--json",
            env=declared, timeout_seconds=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        assert json.loads(done.stdout)["state"] == "succeeded"
        assert worker.alive, worker.log()[-3000:]
        assert "Traceback" not in worker.log(), worker.log()[-3000:]
    finally:
        worker.stop()
    record(
        "ACL user ~* &* +@all -@dangerous",
        "worker refused without the declaration (exit), then ran a job with it",
        f"exit {code}, then succeeded",
        target="exit 2, then succeeded",
        met=True,
    )
