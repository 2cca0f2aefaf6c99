"""Count the Redis round trips one thread makes: a regression in the job path shows.

:func:`counting_round_trips` wraps redis-py's ``send_packed_command``, which every command
and every pipeline (one ``MULTI ... EXEC`` block, or a batch) goes through once per trip
to the server, and records the sends made by the calling thread only (a worker's heartbeat
thread renews leases on its own schedule). Each record is the first command's name
(``MULTI``, ``HGET``..., ``EVALSHA worker.status_scripts.START`` for a script on the job path), so
a failing assertion says which trips were made.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection

__all__ = ["RoundTrips", "counting_round_trips"]


class RoundTrips(list[str]):
    """The first command name of each round trip, in order."""


def _first_name(packed: Any, scripts: dict[str, str]) -> str:
    data = packed if isinstance(packed, bytes | bytearray) else b"".join(packed[:3])
    lines = bytes(data).split(b"\r\n")
    name = lines[2].decode(errors="replace").upper() if len(lines) > 2 else "?"
    if name == "EVALSHA" and len(lines) > 4:
        return f"EVALSHA {scripts.get(lines[4].decode(errors='replace'), '?')}"
    return name


def _script_names() -> dict[str, str]:
    """SHA1 -> module.NAME of the Lua scripts on the job path."""
    names: dict[str, str] = {}
    for module in ("worker.status_scripts", "worker.ratelimit._lua", "worker.guard.redis"):
        for name, value in vars(importlib.import_module(module)).items():
            if isinstance(value, str) and "redis.call" in value:
                names[hashlib.sha1(value.encode()).hexdigest()] = f"{module}.{name}"
    return names


@contextmanager
def counting_round_trips() -> Iterator[RoundTrips]:
    """Record every round trip the current thread makes to any Redis inside the block."""
    trips = RoundTrips()
    scripts = _script_names()
    thread = threading.get_ident()
    original: Callable[[AbstractConnection, Any, bool], None] = (
        AbstractConnection.send_packed_command
    )

    def send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == thread:
            trips.append(_first_name(command, scripts))
        original(self, command, check_health)

    AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    try:
        yield trips
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign,assignment]
