"""``courier campaign status --watch``: follow a campaign to its end, whatever reads it.

* On a terminal: a live progress bar (on stderr under ``--json``, whose stdout holds the
  final document only).
* Otherwise (a pipe, a log file, a CI job): one plain line every :data:`LINE_SECONDS`
  (on stdout, or stderr under ``--json``), and one when the state changes, so a log shows
  progress while it happens, not only at the end.
* A Redis outage is a pause, as it is for workers: each read is tried again for up to
  ``COURIER_REDIS_WAIT_MAX_SECONDS`` (30 s) of unbroken outage, with one line saying so,
  before the command gives up with exit status 3.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from worker.errors import BrokerUnavailable

__all__ = ["LINE_SECONDS", "follow", "summary"]

LINE_SECONDS = 5.0
"""How often a line is printed when the output is not a terminal."""

_FINAL_STATES = ("done", "cancelled")
_SETTLED = ("succeeded", "failed", "skipped", "cancelled")

Read = Callable[[str], dict[str, Any]]


def summary(document: dict[str, Any]) -> str:
    """One line: state, progress, counts, rate, share and ETA (or why it paused)."""
    counts = document["counts"]
    settled = sum(counts[s] for s in _SETTLED)
    eta = document["eta_seconds"]
    share = (document.get("share") or {}).get("fraction")
    line = (
        f"{document['state']} {settled}/{document['total']}  ok {counts['succeeded']}  "
        f"failed {counts['failed']}  deferred {counts['deferred']}  "
        f"{document['rate']:.1f}/s  share {'-' if share is None else f'{share:.0%}'}  "
        f"eta {'?' if eta is None else f'{eta:.0f}s'}"
    )
    why = document.get("pause_reason")
    if why:
        line += f"  paused by itself: {why['code']}: {why['message']}"
    return line


def follow(
    campaign_id: str,
    read: Read,
    *,
    interval_seconds: float,
    as_json: bool,
    wait_max_seconds: float,
    console: Console,
    err_console: Console,
) -> dict[str, Any]:
    """Read the campaign's document every ``interval_seconds`` until it ends (or pauses
    itself); returns the last document.

    Raises:
        BrokerUnavailable: Redis stayed unreachable for ``wait_max_seconds``.
        CourierError: what ``read`` raises otherwise (an unknown campaign).
    """
    shown = err_console if as_json else console
    patient = _Patient(read, wait_max_seconds, err_console.file)
    if shown.is_terminal:
        return _with_bar(campaign_id, patient, interval_seconds, shown)
    stream = sys.stderr if as_json else sys.stdout
    document = patient(campaign_id)
    last_line, last_state = float("-inf"), None
    while True:
        now = time.monotonic()
        ended = document["state"] in _FINAL_STATES or document.get("pause_reason")
        if ended or now - last_line >= LINE_SECONDS or document["state"] != last_state:
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            stream.write(f"{stamp} campaign {campaign_id} {summary(document)}\n")
            stream.flush()
            last_line, last_state = now, document["state"]
        if ended:
            return document
        time.sleep(interval_seconds)
        document = patient(campaign_id)


def _with_bar(
    campaign_id: str, read: Read, interval_seconds: float, console: Console
) -> dict[str, Any]:
    document = read(campaign_id)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
    )
    with progress:
        bar = progress.add_task(document["name"], total=document["total"] or None, detail="")
        while True:
            settled = sum(document["counts"][s] for s in _SETTLED)
            total = document["total"] or None
            progress.update(bar, completed=settled, total=total, detail=summary(document))
            if document["state"] in _FINAL_STATES or document.get("pause_reason"):
                return document
            time.sleep(interval_seconds)
            document = read(campaign_id)


class _Patient:
    """``read`` that waits out a Redis outage of up to ``wait_max_seconds``."""

    def __init__(self, read: Read, wait_max_seconds: float, say: IO[str]) -> None:
        self._read, self._wait_max, self._say = read, wait_max_seconds, say

    def __call__(self, campaign_id: str) -> dict[str, Any]:
        deadline: float | None = None
        while True:
            try:
                return self._read(campaign_id)
            except BrokerUnavailable as exc:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._wait_max
                    self._say.write(
                        f"Redis unreachable; waiting up to {self._wait_max:g} s for it "
                        f"(as workers do): {exc}\n"
                    )
                    self._say.flush()
                if now >= deadline:
                    raise
                time.sleep(min(1.0, deadline - now))
