"""hiredis packs commands, but never an int or a float (worker.broker.safe_client).

hiredis-py 3.5.0's ``pack_command`` dereferences an unchecked ``PyObject_Repr`` of an int
argument; CPython's int repr checks for signals, so a signal handler that raises there
(the CLI's SIGINT/SIGTERM) crashes the process: a segmentation fault instead of exit 130
and the clean-up that follows. Each storm runs in its own interpreter, so a crash is a
return code here, not the end of the test session.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import hiredis
import pytest
from redis.connection import HiredisRespSerializer

from worker.broker.clients import (
    PrimaryConnection,
    PrimarySentinelConnection,
    PrimarySentinelSSLConnection,
    PrimarySSLConnection,
    PrimaryUnixConnection,
)
from worker.broker.safe_client import SignalSafePacker, SignalSafePacking

ARGUMENTS = [
    ("SELECT", 3),
    ("HELLO", 3),
    ("SET", "k", 0, "PX", 10_000),
    ("INCRBYFLOAT", "k", 0.1),
    ("SET", "k", -7),
    ("SET", "k", 2**80),
    ("SET", b"bytes", "t\u00e9xt"),
    ("SET", "k", memoryview(b"view")),
    ("CLIENT SETINFO", "LIB-NAME", "redis-py"),
]

_STORM = """
import signal, sys
def interrupt(signum, frame):
    raise KeyboardInterrupt
signal.signal(signal.SIGALRM, interrupt)
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
packed = interrupts = 0
while packed < 300_000:
    try:
        while packed < 300_000:
            PACK(("SELECT", 3)); PACK(("HELLO", 3)); packed += 1
    except KeyboardInterrupt:
        interrupts += 1
signal.setitimer(signal.ITIMER_REAL, 0)
print(packed, interrupts)
"""


def _storm(setup: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", setup + _STORM],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("args", ARGUMENTS, ids=[" ".join(map(str, a))[:30] for a in ARGUMENTS])
def test_the_same_bytes_as_hiredis(args: tuple[object, ...]) -> None:
    assert SignalSafePacker().pack(*args) == HiredisRespSerializer().pack(*args)  # type: ignore[arg-type]


def test_every_connection_class_packs_this_way() -> None:
    classes = (
        PrimaryConnection,
        PrimarySSLConnection,
        PrimaryUnixConnection,
        PrimarySentinelConnection,
        PrimarySentinelSSLConnection,
    )
    assert all(issubclass(c, SignalSafePacking) for c in classes)
    makeable: tuple[Any, ...] = (PrimaryConnection, PrimarySSLConnection, PrimaryUnixConnection)
    for connection_class in makeable:
        made = connection_class()  # no network traffic until the first command
        assert isinstance(made._command_packer, SignalSafePacker), connection_class


def test_a_signal_storm_never_crashes_the_packer() -> None:
    done = _storm(
        "from worker.broker.safe_client import SignalSafePacker\n"
        "PACK = lambda args: SignalSafePacker().pack(*args)\n"
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    packed, interrupts = map(int, done.stdout.split())
    assert packed == 300_000
    assert interrupts > 10, interrupts  # the signals did land while it packed


def test_hiredis_own_packer_still_crashes_so_the_guard_is_needed() -> None:
    # If hiredis ever checks PyObject_Repr's result, this fails and SignalSafePacker can go.
    done = _storm(f"import hiredis  # {hiredis.__version__}\nPACK = hiredis.pack_command\n")
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stdout, done.stderr[-500:])
