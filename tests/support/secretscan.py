"""The secret scan's instruments (tests/security/test_secret_scan.py): the encodings a
secret is searched in, a Celery event tap, a Redis dump, /proc readers and the long-running
``courier`` services, shared by the security suite's tests."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support.polling import wait_until
from tests.support.processes import ROOT, courier_command

__all__ = [
    "EventTap",
    "Service",
    "cmdlines",
    "dump_redis",
    "encodings",
    "listening",
    "literal_secret_hash_run",
    "opened",
    "wait_http",
]


def encodings(secret: str) -> set[bytes]:
    """``secret`` raw, base64 (both alphabets, padded or not) and hex."""
    raw = secret.encode()
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw)
        forms |= {encoded, encoded.rstrip(b"=")}
    return forms


class EventTap:
    """Every message published on Redis while it runs (Celery events travel on pub/sub)."""

    def __init__(self, url: str) -> None:
        self._pubsub = redis.Redis.from_url(url).pubsub()  # type: ignore[no-untyped-call]
        self._pubsub.psubscribe("*")
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message and isinstance(message.get("data"), bytes):
                self.messages.append(message["data"])
                self.messages.extend(opened(message["data"]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()


def opened(data: bytes) -> list[bytes]:
    """The body of a kombu envelope (Celery events are base64 inside JSON), else nothing."""
    try:
        envelope = json.loads(data)
        if envelope["properties"]["body_encoding"] == "base64":
            return [base64.b64decode(envelope["body"])]
    except (ValueError, KeyError, TypeError):
        pass
    return []


def dump_redis(client: redis.Redis) -> list[bytes]:
    """Every key and value (a raw client: bytes), kombu envelopes opened."""
    found: list[bytes] = []
    raw: Any = client  # redis-py's stubs type replies as bytes | str
    for key in raw.scan_iter(count=1000):
        found.append(key)
        kind = raw.type(key)
        if kind == b"string":
            found.append(raw.get(key) or b"")
        elif kind == b"hash":  # kombu's unacked hash holds envelopes as well
            pairs = raw.hgetall(key).items()
            found.extend(k + b"=" + v for k, v in pairs)
            found.extend(body for _, v in pairs for body in opened(v))
        elif kind == b"list":  # queue items are kombu envelopes: their bodies too
            items = raw.lrange(key, 0, -1)
            found.extend(items)
            found.extend(body for item in items for body in opened(item))
        elif kind == b"set":
            found.extend(raw.smembers(key))
        elif kind == b"zset":
            found.extend(member for member, _ in raw.zrange(key, 0, -1, withscores=True))
        elif kind == b"stream":
            found.append(repr(raw.xrange(key)).encode())
    return found


def listening(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port`` (``/proc/net/tcp``)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


def cmdlines() -> list[bytes]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes())
            except OSError:
                continue
    return lines


class Service:
    """A ``courier`` long-running command (api, flower) with its log in a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*courier_command(), *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def log(self) -> bytes:
        return self.log_path.read_bytes()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wait_http(url: str, *, auth: Any = None) -> None:
    def up() -> bool:
        try:
            return httpx.get(url, auth=auth, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, timeout_seconds=60, what=url)


def literal_secret_hash_run(
    env: dict[str, str], client_id: str, user: str, secret_hash: str
) -> tuple[bytes, bytes]:
    """``resend --secret-hash <the value> --wait``: its /proc/<pid>/cmdline read while it
    runs (once its warning is printed, which is after the entry point hid the value) and
    its whole output."""
    process = subprocess.Popen(
        [*courier_command(), "resend", "--client-id", client_id, "--username", user,
         "--secret-hash", secret_hash, "--wait", "--json"],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    warning = process.stderr.readline()
    assert b"--secret-hash -" in warning, warning  # the warning names the safer forms
    cmdline = (Path("/proc") / str(process.pid) / "cmdline").read_bytes()
    assert b"resend" in cmdline  # read from the running command, not an empty file
    out, err = process.communicate(timeout=90)
    return cmdline, warning + out + err
