"""The campaign report: one CSV line per user with what became of them.

Columns: ``username, state, error_code, delivery_medium, destination, attempts,
redeliveries, time``. ``destination`` is as Cognito masked it (``a***@e***``); ``time`` is
when the row last settled (ISO 8601 UTC), empty for rows that never reached a worker
(queued, cancelled). ``redeliveries`` is how many times the row was sent again because
the worker holding it stopped mid-send; ``attempts`` counts the calls of the holder that
settled it plus one per redelivery (the call the stopped holder had on its way; at most
one too many per redelivery, when it stopped before that call left).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from worker.campaign.model import STATE_BY_CODE
from worker.campaign.store import CampaignStore, iso

__all__ = ["REPORT_COLUMNS", "iter_report_rows", "write_report"]

REPORT_COLUMNS = (
    "username",
    "state",
    "error_code",
    "delivery_medium",
    "destination",
    "attempts",
    "redeliveries",
    "time",
)


def iter_report_rows(store: CampaignStore) -> Iterator[tuple[str, ...]]:
    """Yield one report row per campaign row, chunk by chunk (one chunk in memory).

    Raises:
        CampaignNotFoundError: no such campaign.
    """
    meta = store.meta()
    size = int(meta["chunk_size"])
    total = int(meta["total"])
    again = store.row_redeliveries()
    for chunk, start in enumerate(range(0, total, size)):
        names = store.chunk_usernames(chunk)
        states = store.row_states(start, len(names))
        latest: dict[int, list[str]] = {}
        for record in store.outcomes(chunk).decode("utf-8").splitlines():
            parts = record.split("\t")
            if len(parts) == 7:
                latest[int(parts[0])] = parts
        for offset, name in enumerate(names):
            code = states[offset] if offset < len(states) else 0
            found = latest.get(offset)
            repeats = again.get(start + offset, 0)
            if found is None:
                yield (name, STATE_BY_CODE[code], "", "", "", str(repeats), str(repeats), "")
                continue
            stamp = iso(float(found[6])) or ""
            attempts = str(int(found[5]) + repeats)
            state = STATE_BY_CODE[code]
            yield (name, state, found[2], found[3], found[4], attempts, str(repeats), stamp)


def write_report(store: CampaignStore, path: str | Path | IO[str]) -> int:
    """Write the report CSV to ``path`` (or an open text stream); returns the row count.

    Raises:
        CampaignNotFoundError: no such campaign.
        OSError: the file cannot be written.
    """
    if isinstance(path, str | Path):
        with Path(path).open("w", encoding="utf-8", newline="") as handle:
            return _write(store, handle)
    return _write(store, path)


def _write(store: CampaignStore, handle: IO[str]) -> int:
    writer = csv.writer(handle)
    writer.writerow(REPORT_COLUMNS)
    count = 0
    for row in iter_report_rows(store):
        writer.writerow(row)
        count += 1
    return count
