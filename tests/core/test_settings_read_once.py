"""The settings are read from the environment once per process and passed down.

Each case runs in a fresh interpreter whose ``worker.settings.load_settings`` counts its
calls (patched before any other project module is imported, so every ``from
worker.settings import load_settings`` gets the counting one), then does what a real
process does: a ``courier`` command line through its entry point, or a worker's start
(the app imported, its log set-up, its metrics step, its runtime).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_COUNTING = """
import json, sys
import worker.settings as settings_module

calls = []
real = settings_module.load_settings

def counting(**overrides):
    calls.append(sorted(overrides))
    return real(**overrides)

settings_module.load_settings = counting
"""


def _run(body: str, redis_url: str) -> dict[str, object]:
    env = {**os.environ, "COURIER_REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "-c", _COUNTING + body],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_command_line_reads_them_once(redis_url: str) -> None:
    # `courier status` goes through main, the CLI's context, tasks, the app and the runtime
    body = """
import io, contextlib
from worker.cli import main
sys.argv = ["courier", "status", "no-such-job", "--json"]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit as exc:
        code = exc.code
from worker.runtime import get_runtime
from worker.process import process_settings
same = get_runtime().settings is process_settings()
print(json.dumps({"calls": len(calls), "code": code, "same": same, "out": out.getvalue()}))
"""
    result = _run(body, redis_url)
    assert '"JobNotFoundError"' in str(result["out"])  # the command really ran to its end
    assert result["same"] is True
    assert result["calls"] == 1


def test_a_worker_start_reads_them_once(redis_url: str) -> None:
    body = """
from worker.app import app
from worker.observe.logs import _setup_worker_logging
from worker.observe.worker_metrics import MetricsServer
from worker.runtime import get_runtime

_setup_worker_logging(loglevel="INFO")
step = MetricsServer.__new__(MetricsServer)
step._server = None
MetricsServer.start(step, object())
runtime = get_runtime()
print(json.dumps({"calls": len(calls), "redis": runtime.settings.redis_url}))
"""
    result = _run(body, redis_url)
    assert result["redis"] == redis_url
    assert result["calls"] == 1


def test_a_failed_read_is_reported_by_the_command(redis_url: str) -> None:
    # the entry point's read fails: nothing is kept, the command reads again and says why
    env = {**os.environ, "COURIER_REDIS_URL": redis_url, "COURIER_RATE_LIMIT": "fast"}
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "limit", "show", "--json"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "COURIER_RATE_LIMIT" in json.loads(done.stdout)["error"]["message"]
