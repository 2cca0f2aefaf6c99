"""The limits a benchmark prints beside its figures: CPU per call, per job, per row.

botocore's own work per call is the floor under any pipeline that keeps boto3 (request
serialisation, endpoint resolution, the HTTP round trip's client side, parsing the
answer): :func:`bare_call_cpu_seconds` measures it alone in this process, on one
unsigned client, one thread. :func:`tree_cpu_seconds` reads a worker process's CPU (its
own threads and its live children) from ``/proc``, so a benchmark can divide it by the
jobs or rows it ran.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from benchmarks.harness import unsigned_client
from worker.contrib.emulator.synthetic import PUBLIC_CLIENT_ID, username

__all__ = ["bare_call_cpu_seconds", "cpu_seconds", "tree_cpu_seconds"]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process ``pid`` used so far (None where /proc is absent)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command name: state is field 3, utime 14 and stime 15 (man 5 proc)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append(int(entry))
    return found


def tree_cpu_seconds(pids: Iterable[int]) -> float:
    """CPU seconds used so far by ``pids`` and every live descendant of theirs."""
    total, todo, seen = 0.0, list(pids), set[int]()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu_seconds(pid) or 0.0
        todo.extend(_children(pid))
    return total


def bare_call_cpu_seconds(endpoint_url: str, *, calls: int = 400, first: int = 8_000_000) -> float:
    """CPU seconds of this process per bare boto3 ResendConfirmationCode call (the floor).

    One unsigned client, one thread, ``calls`` calls to distinct synthetic users after 20
    warm-up calls; the emulator (another process) is not counted.
    """
    client = unsigned_client(endpoint_url)
    for n in range(20):
        client.resend_confirmation_code(ClientId=PUBLIC_CLIENT_ID, Username=username(first + n))
    started = time.process_time()
    for n in range(20, 20 + calls):
        client.resend_confirmation_code(ClientId=PUBLIC_CLIENT_ID, Username=username(first + n))
    return (time.process_time() - started) / calls
