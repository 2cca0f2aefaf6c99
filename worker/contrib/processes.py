"""Ending child processes: SIGTERM, a grace period, then SIGKILL.

The development tools shipped here (the demo's worker,
:class:`~worker.contrib.redisserver.PrivateRedis`), the benchmarks and the tests all start
real processes and must not leave one behind, even when one ignores or outlasts SIGTERM.
:func:`stop_process` and :func:`stop_processes` are the one way they end them.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["KILL_WAIT_SECONDS", "stop_process", "stop_processes"]

KILL_WAIT_SECONDS = 10.0
"""How long to wait for a SIGKILLed process to be reaped before giving up."""


def stop_process(
    process: subprocess.Popen[Any], *, grace_seconds: float = 10.0, kill: bool = False
) -> int:
    """End ``process`` and reap it; returns its exit status (negative: the signal's number).

    Sends SIGTERM (an orderly shutdown), or SIGKILL at once with ``kill``; a process still
    running ``grace_seconds`` after SIGTERM is SIGKILLed. A process that already exited is
    only reaped.

    Raises:
        subprocess.TimeoutExpired: the process outlived SIGKILL by ``KILL_WAIT_SECONDS``
            (uninterruptible sleep in the kernel); it is not left unnoticed.
    """
    if process.poll() is not None:
        return process.returncode
    if kill:
        process.kill()
    else:
        process.terminate()
    return _reap(process, grace_seconds=grace_seconds)


def stop_processes(
    processes: Iterable[subprocess.Popen[Any]], *, grace_seconds: float = 10.0
) -> list[int]:
    """End several processes together; returns their exit statuses, in order.

    Every running one gets SIGTERM first, so they shut down side by side and the whole
    call takes at most ``grace_seconds`` (plus the SIGKILL wait) rather than that much for
    each; those still running when the grace period ends are SIGKILLed.

    Raises:
        subprocess.TimeoutExpired: as :func:`stop_process`.
    """
    started = list(processes)
    for process in started:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_seconds
    return [
        _reap(process, grace_seconds=max(0.0, deadline - time.monotonic())) for process in started
    ]


def _reap(process: subprocess.Popen[Any], *, grace_seconds: float) -> int:
    """Wait ``grace_seconds`` for a signalled process, then SIGKILL it and wait again."""
    try:
        return process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=KILL_WAIT_SECONDS)
