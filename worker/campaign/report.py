"""The campaign report: one CSV line per user, then one per rejected input row.

Columns: ``username, state, error_code, error_message, delivery_medium, destination,
attempts, redeliveries, time, line, ambiguous``.

* ``error_message`` is Cognito's message as it answered (so "User is already confirmed."
  can be told from other ``InvalidParameterException``), or the project's for what it
  decided before calling.
* ``destination`` is as Cognito masked it (``a***@e***``); ``time`` is when the row last
  settled (ISO 8601 UTC to the millisecond, ``2026-12-03T06:21:14.123Z``; rows recorded
  before milliseconds were stored show ``.000``), empty for rows that never reached a
  worker (queued, cancelled).
* ``redeliveries`` is how many times the row was sent again because the worker holding it
  stopped mid-send; ``attempts`` counts the calls of the holder that settled it plus one
  per redelivery (the call the stopped holder had on its way; one too many when it
  stopped before that call left).
* ``ambiguous`` is how many of the settling holder's calls left and got no answer (read
  timeout, connection closed after sending): each may have delivered a code; a row whose
  calls all went unanswered is ``failed`` ``CourierDeliveryUnconfirmed``.
* Rejected input rows follow the users, in input order: ``state`` ``rejected``, ``line``
  the line an editor shows, ``error_code`` ``CourierRejectedInput``, ``error_message``
  the reason, ``username`` empty (the row did not hold a usable one). Up to 100,000 are
  kept with a campaign; all are counted in the status document's ``rejected``.

**Safe to open in a spreadsheet** (OWASP "CSV Injection"): a cell that would start with
``=``, ``+``, ``-``, ``@``, tab or carriage return - which Excel, LibreOffice and Google
Sheets read as a formula - is written with a ``'`` in front, and so is a cell that starts
with ``'`` itself. To recover the exact value (a username such as ``=HYPERLINK(...)``
is valid in Cognito): **if a cell starts with ``'``, drop that one character**; nothing
else is changed (:func:`unescape_cell` does it). Quotes, delimiters and line breaks are
CSV-quoted as usual.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from worker.campaign.model import STATE_BY_CODE
from worker.campaign.store import CampaignStore, iso
from worker.files import private_text_file

__all__ = [
    "REJECTED_CODE",
    "REPORT_COLUMNS",
    "escape_cell",
    "iter_report_rows",
    "unescape_cell",
    "write_report",
]

REPORT_COLUMNS = (
    "username",
    "state",
    "error_code",
    "error_message",
    "delivery_medium",
    "destination",
    "attempts",
    "redeliveries",
    "time",
    "line",
    "ambiguous",
)
REJECTED_CODE = "CourierRejectedInput"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_cell(value: str) -> str:
    """``value`` safe for a spreadsheet: a ``'`` in front when it starts like a formula
    (or with ``'``); :func:`unescape_cell` undoes it exactly."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def unescape_cell(value: str) -> str:
    """The exact value of a report cell: one leading ``'`` dropped, if there is one."""
    return value[1:] if value.startswith("'") else value


def iter_report_rows(store: CampaignStore) -> Iterator[tuple[str, ...]]:
    """Yield one report row per campaign row, chunk by chunk (one chunk in memory), then
    one per kept rejected input row. Values are as stored (not escaped).

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
            if len(parts) in (7, 8, 9):  # 7: before error messages were kept; 8: ambiguous
                latest[int(parts[0])] = parts
        for offset, name in enumerate(names):
            code = states[offset] if offset < len(states) else 0
            found = latest.get(offset)
            repeats = again.get(start + offset, 0)
            if found is None:
                again_text = str(repeats)
                yield (
                    name, STATE_BY_CODE[code], "", "", "", "", again_text, again_text, "", "", "0"
                )  # fmt: skip
                continue
            stamp = iso(float(found[6])) or ""
            message = found[7] if len(found) >= 8 else ""
            yield (
                name,
                STATE_BY_CODE[code],
                found[2],
                message,
                found[3],
                found[4],
                str(int(found[5]) + repeats),
                str(repeats),
                stamp,
                "",
                found[8] if len(found) == 9 else "0",
            )
    for line, reason in store.rejects():
        yield ("", "rejected", REJECTED_CODE, reason, "", "", "0", "0", "", str(line), "0")


def write_report(store: CampaignStore, path: str | Path | IO[str]) -> int:
    """Write the report CSV to ``path`` (or an open text stream); returns the row count.

    A path is written through :func:`worker.files.private_text_file`: mode 0600, a
    temporary file renamed onto ``path`` (a symlink there is replaced, never followed),
    nothing left at ``path`` if the report fails half way.

    Raises:
        CampaignNotFoundError: no such campaign (CampaignLostError: Redis lost its keys);
            no file is created.
        OSError: the file cannot be written.
    """
    store.meta()  # a campaign not there (or lost) leaves no empty report behind
    if isinstance(path, str | Path):
        with private_text_file(path, newline="") as handle:
            return _write(store, handle)
    return _write(store, path)


def _write(store: CampaignStore, handle: IO[str]) -> int:
    writer = csv.writer(handle)
    writer.writerow(REPORT_COLUMNS)
    count = 0
    for row in iter_report_rows(store):
        writer.writerow([escape_cell(cell) for cell in row])
        count += 1
    return count
