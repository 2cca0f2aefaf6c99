"""The Redis password never appears in any process's output (issue 19: an unencoded ``/`` in
the password once printed ``Port could not be cast to integer value as 'Sekr3t'``).

Real processes, each with a COURIER_REDIS_URL whose password holds one of ``/ # ? @ :``
unencoded (the URL may then not parse, or parse with nothing listening at its port, a
free loopback port): ``courier status``, ``courier resend``, ``courier worker``,
``courier api`` and ``courier flower``. Each either ends on its own or is stopped after a
few seconds; its whole output is searched for the password (raw, base64, hex) and for
the fragments a parser would show (the text between the reserved characters).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
from cryptography.fernet import Fernet

from tests.support.processes import ROOT, courier_command
from tests.support.secretscan import encodings
from worker.contrib.redisserver import free_port

pytestmark = pytest.mark.timeout(300)

_RESERVED = "/#?@:"


def _output(args: list[str], env: dict[str, str], *, seconds: float) -> str:
    process = subprocess.Popen(
        [*courier_command(), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate(timeout=10)
    return out.decode(errors="replace")


@pytest.mark.parametrize("reserved", list(_RESERVED))
def test_no_process_shows_the_redis_password(reserved: str) -> None:
    left, right = f"L{uuid.uuid4().hex[:10]}", f"R{uuid.uuid4().hex[:10]}"
    password = left + reserved + right
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    env = {
        **os.environ,
        "COURIER_REDIS_URL": url,
        "COURIER_API_TOKENS": "walk-" + uuid.uuid4().hex,  # the front gets to Redis
        "COURIER_SEAL_KEY": Fernet.generate_key().decode(),
        "PYTHONWARNINGS": "ignore",
    }
    commands = {
        "status": (["status", "0f6f0c4e-0000-4000-8000-000000000000"], 60.0),
        "resend": (["resend", "--client-id", "abc", "--username", "u", "--json"], 60.0),
        "worker": (["worker", "--loglevel", "INFO"], 8.0),
        "api": (["api", "--port", str(free_port())], 8.0),
        "flower": (["flower", "--port", str(free_port())], 8.0),
    }
    outputs = {name: _output(args, env, seconds=s) for name, (args, s) in commands.items()}
    for name, text in outputs.items():
        assert text.strip(), f"{name} printed nothing: the scan would be over nothing"
    secrets = {"password": password, "left part": left, "right part": right}
    found = [
        (what, name)
        for what, secret in secrets.items()
        for name, text in outputs.items()
        if any(form in text.encode() for form in encodings(secret))
    ]
    assert found == [], (found, outputs)
