"""``courier resend``'s SecretHash never stays in the process arguments (DESIGN invariant 3).

Real processes: a private ``redis-server``, the emulator over HTTP, ``courier resend``
subprocesses and a ``courier worker``. While ``resend --secret-hash H --wait`` waits for a
job that no worker has taken yet, ``/proc/<pid>/cmdline`` is read: H is not there (in any
encoding), ``***`` is, and stderr carries the warning naming the safer forms. Then a worker
starts, and every form (literal, ``-`` on stdin, ``--secret-hash-file``,
``COURIER_SECRET_HASH``) delivers a code with the right SecretHash, and a wrong one read
from stdin fails at Cognito, which shows the value read is the value sent.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.processes import ROOT, WorkerProcess, courier_command
from tests.support.secretscan import encodings
from tests.support.security import clients_file
from worker.cli.secrets import LITERAL_WARNING
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool
from worker.contrib.redisserver import PrivateRedis
from worker.proctitle import scrubbed

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture
def env(
    private_redis: PrivateRedis, emulator: EmulatorHandle, pool: UserPool, tmp_path: Path
) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "COURIER_SECRET_HASH"}
    return {
        **environ,
        "COURIER_REDIS_URL": private_redis.url,
        "COURIER_SEAL_KEY": Fernet.generate_key().decode(),
        "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
        "COURIER_CLIENTS": str(clients_file(tmp_path / "clients.json", pool)),
        "PYTHONWARNINGS": "ignore",
    }


def _resend(
    env: dict[str, str], pool: UserPool, user: str, *options: str, stdin: str | None = None
) -> tuple[int, dict[str, object], str]:
    done = subprocess.run(
        [*courier_command(), "resend", "--client-id", pool.secret_client_id,
         "--username", user, *options, "--wait", "--timeout-seconds", "60", "--json"],
        env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    document = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    return done.returncode, document, done.stderr


def test_a_literal_secret_hash_leaves_cmdline_and_every_form_delivers(
    env: dict[str, str], pool: UserPool, tmp_path: Path
) -> None:
    user = pool.add_user(f"arg-{uuid.uuid4().hex[:8]}")
    secret_hash = pool.secret_hash(user)
    waiting = subprocess.Popen(
        [*courier_command(), "resend", "--client-id", pool.secret_client_id,
         "--username", user, "--secret-hash", secret_hash, "--wait",
         "--timeout-seconds", "120", "--json"],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    worker = WorkerProcess("cli-secrets", env, tmp_path)
    try:
        assert waiting.stderr is not None
        # printed once the command runs, which is after main() hid the value
        assert waiting.stderr.readline().strip() == LITERAL_WARNING
        cmdline = (Path("/proc") / str(waiting.pid) / "cmdline").read_bytes()
        assert waiting.poll() is None, "resend --wait ended before a worker ran: nothing read"
        assert b"resend" in cmdline  # the process's own title
        assert user.encode() in cmdline
        assert b"***" in cmdline
        assert [form for form in encodings(secret_hash) if form in cmdline] == []
        worker.start()
        out, _ = waiting.communicate(timeout=90)
        assert waiting.returncode == 0, out
        assert json.loads(out.strip().splitlines()[-1])["state"] == "succeeded"

        hash_file = tmp_path / "secret-hash.txt"
        hash_file.write_text(secret_hash + "\n", encoding="utf-8")
        for options, stdin, extra in (
            (("--secret-hash", "-"), secret_hash + "\n", {}),
            (("--secret-hash-file", str(hash_file)), None, {}),
            ((), None, {"COURIER_SECRET_HASH": secret_hash}),
        ):
            code, document, stderr = _resend({**env, **extra}, pool, user, *options, stdin=stdin)
            assert (code, document.get("state")) == (0, "succeeded"), (options, document)
            assert "warning" not in stderr, stderr  # only the literal form warns
        wrong = base64.b64encode(b"not the secret hash").decode()
        code, document, _ = _resend(env, pool, user, "--secret-hash", "-", stdin=wrong)
        assert code == 1
        assert document["state"] == "failed"
        assert "secret hash" in json.dumps(document["error"]).lower()
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(timeout=10)
        worker.stop()


def test_secret_hash_sources_are_refused_clearly(env: dict[str, str], pool: UserPool) -> None:
    empty = _resend_raw(env, pool, "--secret-hash", "-", stdin="\n")
    assert empty.returncode == 2
    assert "standard input (--secret-hash -) holds no SecretHash" in empty.stdout
    both = _resend_raw(env, pool, "--secret-hash", "x", "--secret-hash-file", "/nonexistent")
    assert both.returncode == 2
    assert "not both" in both.stdout
    missing = _resend_raw(env, pool, "--secret-hash-file", "/nonexistent/secret")
    assert missing.returncode == 2
    assert "cannot read --secret-hash-file /nonexistent/secret" in missing.stdout


def _resend_raw(
    env: dict[str, str], pool: UserPool, *options: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*courier_command(), "resend", "--client-id", pool.secret_client_id,
         "--username", "someone", *options, "--json"],
        env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_scrubbed_masks_every_literal_form_and_only_those() -> None:
    argv = ["resend", "--secret-hash", "H1", "--username", "u", "--secret-hash=H2"]
    assert scrubbed(argv) == (
        ["resend", "--secret-hash", "***", "--username", "u", "--secret-hash=***"],
        True,
    )
    # the parser may take a second option name as the first one's value: hide both
    tricky = ["resend", "--username", "--secret-hash", "--secret-hash", "H3"]
    assert scrubbed(tricky) == (["resend", "--username", "--secret-hash", "***", "***"], True)
    for untouched in (["resend", "--secret-hash", "-"], ["resend", "--secret-hash=-"], ["x"]):
        assert scrubbed(untouched) == (untouched, False)


def test_verify_attribute_takes_no_token_on_the_command_line(
    env: dict[str, str], pool: UserPool
) -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LWNsYWltcw.c2lnbmF0dXJl"
    done = subprocess.run(
        [*courier_command(), "verify-attribute", "--attribute-name", "email",
         "--access-token", token, "--json"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--access-token" in done.stdout  # a usage error naming the option
    assert token not in done.stdout + done.stderr
