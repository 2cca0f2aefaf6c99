"""Under COURIER_LOG_FORMAT=json every line every process writes is one JSON object, from
start to SIGTERM: a worker (Celery's banner and warm-shutdown lines included), the front,
Flower, the CLI and ``courier demo``. Each test runs the real process, lets it work, stops
it with SIGTERM and parses every line of its stdout and stderr, as ``jq -c .`` would."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.processes import (
    ROOT,
    WorkerProcess,
    courier,
    courier_command,
    serving,
    submit_resends,
)
from tests.support.stack import API_TOKEN, Stack, stack_env
from tests.support.synthetic import CLIENT_ID
from worker.contrib.redisserver import PrivateRedis, free_port


def every_line_json(text: str, where: str) -> list[dict[str, Any]]:
    """Each line of ``text`` parsed as one JSON object; an empty or other line fails."""
    objects = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            value = json.loads(line)
        except ValueError:
            raise AssertionError(f"{where} line {number} is not JSON: {line!r}") from None
        assert isinstance(value, dict), f"{where} line {number} is not an object: {line!r}"
        assert {"time", "level", "logger", "message"} <= set(value), (where, number, value)
        objects.append(value)
    return objects


def test_a_worker_writes_only_json_from_start_to_warm_shutdown(
    stack: Stack, idle_redis: PrivateRedis, tmp_path: Path
) -> None:
    env = stack_env(idle_redis.url, stack.emulator.endpoint_url, log_format="json")
    stack.emulator.handle.script(
        operation="ResendConfirmationCode",
        username="user0000061",
        errors=["InternalErrorException"],
    )
    worker = WorkerProcess("jsononly", env, tmp_path, ["-c", "2"]).start()
    try:
        jobs = submit_resends(env, CLIENT_ID, ["user0000060", "user0000061", "nobody-at-all"])
        with redis.Redis.from_url(idle_redis.url) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = [client.hget(f"courier:job:{job}", "state") for job in jobs]
                if all(s in (b"succeeded", b"failed") for s in states):
                    break
                time.sleep(0.2)
        assert states == [b"succeeded", b"succeeded", b"failed"], states
        worker.terminate()
        assert worker.wait_exit(timeout_seconds=60) == 0
    finally:
        worker.stop()
    lines = every_line_json(worker.log(), "worker")
    messages = [line["message"] for line in lines]
    assert any(m.endswith(" ready.") for m in messages), messages
    assert "worker: Warm shutdown (MainProcess)" in messages
    assert any("retrying" in m for m in messages), messages
    assert not any("-------------- " in m for m in messages)  # no banner, not even in JSON


def test_the_front_writes_only_json_and_logs_scrapes_at_debug(
    idle_redis: PrivateRedis, tmp_path: Path
) -> None:
    port = free_port()
    env = stack_env(idle_redis.url, "http://127.0.0.1:9", api_tokens=API_TOKEN, log_format="json")
    log_path = tmp_path / "api.log"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with serving(
        ["api", "--port", str(port)], env=env, log_path=log_path, health_path="/healthz", port=port
    ) as url:
        for _ in range(5):
            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
                assert answer.status == 200
            with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:
                assert answer.status == 200
        request = urllib.request.Request(f"{url}/jobs/0123456789abcdef", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404
        refused.value.close()
        time.sleep(0.5)
    lines = every_line_json(log_path.read_text(encoding="utf-8"), "front")
    access = [line for line in lines if line["logger"] == "worker.api"]
    assert [line["status"] for line in access] == [404], access  # scrapes are DEBUG lines
    assert not any("color_message" in line for line in lines)
    assert any(
        line["message"] == "Finished server process" or "Shutting down" in line["message"]
        for line in lines
    ), lines


def test_the_front_logs_scrapes_when_asked_for_debug(idle_redis: PrivateRedis) -> None:
    """The DEBUG lines exist: the scrape is logged, just below INFO."""
    import io
    import logging

    with warnings.catch_warnings():  # Starlette 1.x asks for httpx2; the dev extras pin httpx
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    from worker.api.app import create_app
    from worker.observe.logs import configure_logging
    from worker.settings import load_settings

    stream = io.StringIO()
    configure_logging("json", logging.DEBUG, stream=stream)
    try:
        settings = load_settings(redis_url=idle_redis.url, api_tokens=API_TOKEN)
        with TestClient(create_app(settings)) as client:
            assert client.get("/metrics").status_code == 200
            assert client.get("/healthz").status_code == 200
    finally:
        configure_logging("text", logging.WARNING)
    access = [json.loads(raw) for raw in stream.getvalue().splitlines() if '"worker.api"' in raw]
    assert [(a["level"], a["action"]) for a in access] == [
        ("DEBUG", "Metrics"),
        ("DEBUG", "Healthz"),
    ]


def test_flower_writes_only_json_until_sigterm(idle_redis: PrivateRedis, tmp_path: Path) -> None:
    port = free_port()
    env = stack_env(
        idle_redis.url, "http://127.0.0.1:9", log_format="json", flower_basic_auth="ops:Pw-0bserve"
    )
    log_path = tmp_path / "flower.log"
    with serving(
        ["flower", "--port", str(port)],
        env=env,
        log_path=log_path,
        health_path="/healthcheck",
        port=port,
    ):
        time.sleep(1)
    lines = every_line_json(log_path.read_text(encoding="utf-8"), "flower")
    assert any("shutting down" in line["message"] for line in lines), lines


def test_the_cli_writes_one_json_document_and_json_log_lines(
    idle_redis: PrivateRedis, tmp_path: Path
) -> None:
    # An evicting Redis accepted with COURIER_REDIS_ALLOW_EVICTION warns at every start: a
    # log line on each command's stderr.
    with redis.Redis.from_url(idle_redis.url) as client:
        client.config_set("maxmemory-policy", "allkeys-lru")
    env = stack_env(
        idle_redis.url, "http://127.0.0.1:9", log_format="json", redis_allow_eviction="true"
    )
    warned = []
    users = tmp_path / "users.csv"
    users.write_text("username\nuser0000001\nbad name\n", encoding="utf-8")
    for args, status in (
        (["campaign", "start", "--client-id", CLIENT_ID, "--file", str(users), "--json"], 0),
        (["status", "0123456789abcdef", "--json"], 2),  # an unknown id: exit 2
        (["limit", "show", "--json"], 0),
    ):
        done = courier(*args, env=env)
        assert done.returncode == status, (args, done.stdout, done.stderr)
        (document,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert isinstance(document, dict)
        lines = every_line_json(done.stderr, f"courier {args[0]} stderr")
        warned += [line for line in lines if line["level"] == "WARNING"]
    assert warned, "no log line to check: COURIER_REDIS_ALLOW_EVICTION should warn"


def test_the_demo_writes_only_json_and_reports_its_real_elapsed_time() -> None:
    env = stack_env("redis://127.0.0.1:9/0", "http://127.0.0.1:9", log_format="json")
    for key in ("COURIER_REDIS_URL", "COURIER_COGNITO_ENDPOINT_URL", "COURIER_SEAL_KEY"):
        del env[key]  # the demo makes its own
    started = time.monotonic()
    done = subprocess.run(
        [*courier_command(), "demo", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    (document,) = [json.loads(line) for line in done.stdout.splitlines()]
    lines = every_line_json(done.stderr, "demo stderr")
    assert any(line["logger"] == "celery.apps.worker" for line in lines)  # its worker's too
    # Dave's six requests run one after another, then a 40-row campaign: seconds, not ms.
    assert 1.0 < document["elapsed_seconds"] < document["total_seconds"] <= wall
    final = lines[-1]["message"]
    assert f"{document['elapsed_seconds']:.1f} s after the first submission" in final
