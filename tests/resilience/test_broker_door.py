"""Redis unreachable at the door: every command answers BrokerUnavailable within seconds.

Through the real ``courier`` console script, against a port nothing listens on and
against a private Redis that was started and then stopped: exit status 3, with
``--json`` one ``{"error": {"type": "BrokerUnavailable", "message"}}`` document on
stdout, the URL named with its password masked, and no traceback anywhere.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.brokerprocs import worker_env
from tests.support.figures import record
from tests.support.processes import courier
from worker.contrib.redisserver import PrivateRedis, free_port

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

PASSWORD = "hunter2-not-for-logs"
CAMPAIGN_ID = "0badc0de0badc0de"
ANSWER_WITHIN_SECONDS = 10.0  # process start-up included, on a loaded machine


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    users = tmp_path / "users.txt"
    users.write_text("alice\nbob\n", encoding="utf-8")
    return {
        "resend": ["resend", "--client-id", "abc123", "--username", "alice"],
        "verify-attribute": [
            "verify-attribute",
            "--attribute-name",
            "email",
            "--access-token-file",
            str(_token_file(tmp_path)),
        ],
        "status": ["status", "6f1c2a8e-0000-4000-8000-000000000000"],
        "campaign start": ["campaign", "start", "--client-id", "abc123", "--file", str(users)],
        "campaign status": ["campaign", "status", CAMPAIGN_ID],
        "campaign list": ["campaign", "list"],
        "campaign pause": ["campaign", "pause", CAMPAIGN_ID],
        "campaign resume": ["campaign", "resume", CAMPAIGN_ID],
        "campaign cancel": ["campaign", "cancel", CAMPAIGN_ID],
        "campaign report": ["campaign", "report", CAMPAIGN_ID, "--out", str(tmp_path / "r.csv")],
        "limit show": ["limit", "show"],
        "limit set": ["limit", "set", "10"],
        "limit reset": ["limit", "reset"],
        "demo": ["demo"],
    }


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("eyJraWQiOiJ0ZXN0In0.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl\n", encoding="utf-8")
    return path


def _run(args: list[str], url: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = courier(*args, env=worker_env(url, None))
    return done, time.monotonic() - started


def _assert_broker_unavailable(
    name: str, done: subprocess.CompletedProcess[str], seconds: float, masked: str
) -> None:
    where = (
        f"{name}: exit {done.returncode}, stdout {done.stdout!r}, stderr {done.stderr[-2000:]!r}"
    )
    assert done.returncode == 3, where
    document = json.loads(done.stdout)
    assert document["error"]["type"] == "BrokerUnavailable", where
    assert masked in document["error"]["message"], where
    assert PASSWORD not in done.stdout + done.stderr, where
    assert "Traceback" not in done.stdout + done.stderr, where
    assert seconds <= ANSWER_WITHIN_SECONDS, f"{name} took {seconds:.1f} s"


def test_every_command_answers_broker_unavailable_on_a_closed_port(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    masked = f"redis://:***@127.0.0.1:{port}/0"
    slowest = 0.0
    for name, args in _commands(tmp_path).items():
        done, seconds = _run([*args, "--json"], url)
        _assert_broker_unavailable(name, done, seconds, masked)
        slowest = max(slowest, seconds)
    record(
        "Redis unreachable at the door (14 commands, closed port)",
        "slowest answer, seconds (process start included)",
        round(slowest, 1),
        target=f"<= {ANSWER_WITHIN_SECONDS:g} s, exit 3",
        met=slowest <= ANSWER_WITHIN_SECONDS,
    )


@pytest.mark.parametrize("name", ["resend", "status", "campaign list", "limit show"])
def test_a_stopped_redis_answers_broker_unavailable(name: str, tmp_path: Path) -> None:
    server = PrivateRedis()
    server.start()
    server.stop()
    try:
        url = server.url
        done, seconds = _run([*_commands(tmp_path)[name], "--json"], url)
        _assert_broker_unavailable(name, done, seconds, url)
    finally:
        server.close()


def test_text_output_is_one_line_on_stderr(tmp_path: Path) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    done, _ = _run(_commands(tmp_path)["resend"], url)
    assert done.returncode == 3
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2, done.stderr  # rich may wrap the one message
    assert "unreachable" in done.stderr
    assert PASSWORD not in done.stderr


def test_the_http_front_refuses_to_start_without_redis(tmp_path: Path) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    env = {**worker_env(url, None), "COURIER_API_TOKENS": "token-for-tests"}
    done = courier("api", "--port", str(free_port()), env=env)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "unreachable" in done.stderr
    assert "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr
