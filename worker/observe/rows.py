"""Campaign rows where operators look: one log line per row that did not succeed, and the
chunk task's result summarising its rows (Celery's result, so Flower shows it).

A chunk task runs :func:`tallying` around its member's loop; the loop reports each row it
records through :func:`row_recorded`, which

* counts the row in the task's :class:`RowTally` (by state, and by error code for rows
  that did not succeed), whose :meth:`RowTally.summary` is the task's result:
  ``16 rows: 15 succeeded, 1 failed (CodeDeliveryFailureException)``;
* logs a ``failed`` or ``deferred`` row as one WARNING line with ``campaign_id``,
  ``row`` (the row's number in the campaign, from 1: its order in ``courier campaign
  report``) and ``error_code`` (JSON keys; appended in brackets in text), and
  ``username`` only where COURIER_LOG_USERNAMES is true: a username is personal data.

:func:`row_context` binds ``row`` (and, where allowed, ``username``) while one row is
sent, so every line written on its way (the retry policy's ``attempt 1 failed
(TooManyRequestsException); retrying``) carries the same fields.
"""

from __future__ import annotations

import contextvars
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from worker.observe.logs import row_log_context

__all__ = [
    "NOT_SUCCEEDED_LOGGED",
    "RowTally",
    "SettledRow",
    "row_context",
    "row_recorded",
    "rows_recorded",
    "tallying",
]

log = logging.getLogger(__name__)

NOT_SUCCEEDED_LOGGED = frozenset({"failed", "deferred"})
"""Row states that get a WARNING line each (skipped rows are counted, not logged)."""

_tally: contextvars.ContextVar[RowTally | None] = contextvars.ContextVar(
    "courier_row_tally", default=None
)


class SettledRow(NamedTuple):
    """A row as recorded: 0-based ``row``, its row ``state``, ``error_code`` (None on
    success) and, for a deferred row, the seconds until it is sent again."""

    row: int
    state: str
    error_code: str | None
    retry_in_seconds: float


@dataclass
class RowTally:
    """What one chunk task recorded: rows by state, and by (state, error code)."""

    states: Counter[str] = field(default_factory=Counter)
    codes: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        """Rows recorded."""
        return sum(self.states.values())

    @property
    def failed(self) -> int:
        """Rows recorded ``failed``."""
        return self.states["failed"]

    def add(self, state: str, error_code: str | None) -> None:
        """Count one row that settled in ``state`` (with ``error_code`` unless it succeeded)."""
        self.states[state] += 1
        if state != "succeeded":
            self.codes[(state, error_code or "unknown")] += 1

    def summary(self, stop: str) -> str:
        """One line: ``16 rows: 15 succeeded, 1 failed (CodeDeliveryFailureException)``.

        Codes of one state are listed most frequent first, with their count when a state
        has several (``3 failed (2 UserNotFoundException, 1 CodeDeliveryFailureException)``);
        ``stop`` is how the member ended (:func:`worker.campaign.sender.run_member`), added
        unless ``done``: ``4 rows: 4 succeeded; sliced``, ``0 rows; busy``.
        """
        parts = []
        for state, count in self.states.most_common():
            codes = [(c, n) for (s, c), n in self.codes.most_common() if s == state]
            if len(codes) == 1:
                parts.append(f"{count} {state} ({codes[0][0]})")
            elif codes:
                parts.append(f"{count} {state} ({', '.join(f'{n} {c}' for c, n in codes)})")
            else:
                parts.append(f"{count} {state}")
        noun = "row" if self.rows == 1 else "rows"
        text = f"{self.rows} {noun}: {', '.join(parts)}" if parts else f"{self.rows} {noun}"
        return text if stop == "done" else f"{text}; {stop}"


@contextmanager
def tallying() -> Iterator[RowTally]:
    """Within the block, :func:`row_recorded` counts into the tally yielded."""
    tally = RowTally()
    token = _tally.set(tally)
    try:
        yield tally
    finally:
        _tally.reset(token)


@contextmanager
def row_context(row: int, username: str, *, log_usernames: bool) -> Iterator[None]:
    """Every line written in the block names the row (0-based ``row``, logged from 1) and,
    with ``log_usernames``, its username; the ``campaign_id`` bound to the task stays."""
    with row_log_context(row=row + 1, username=username if log_usernames else None):
        yield


def rows_recorded(
    campaign_id: str, rows: Iterable[SettledRow], *, username: Callable[[int], str] | None
) -> None:
    """:func:`row_recorded` for each row a chunk task just recorded; ``username`` (given
    only where COURIER_LOG_USERNAMES is true) is asked for the rows that are logged."""
    for settled in rows:
        logged = username is not None and settled.state in NOT_SUCCEEDED_LOGGED
        row_recorded(
            campaign_id,
            settled.row,
            settled.state,
            settled.error_code,
            username=username(settled.row) if logged and username else None,
            retry_in_seconds=settled.retry_in_seconds,
        )


def row_recorded(
    campaign_id: str,
    row: int,
    state: str,
    error_code: str | None,
    *,
    username: str | None = None,
    retry_in_seconds: float | None = None,
) -> None:
    """Note that 0-based ``row`` of ``campaign_id`` settled in ``state`` (a row state).

    Counts it in the running task's tally, if any; a ``failed`` or ``deferred`` row is one
    WARNING line. ``username`` is logged only when given: pass it only where
    COURIER_LOG_USERNAMES is true.
    """
    tally = _tally.get()
    if tally is not None:
        tally.add(state, error_code)
    if state not in NOT_SUCCEEDED_LOGGED:
        return
    extra: dict[str, object] = {
        "campaign_id": campaign_id,
        "row": row + 1,
        "error_code": error_code or "unknown",
    }
    if username is not None:
        extra["username"] = username
    if state == "deferred":
        log.warning(
            "campaign %s row %d deferred (%s); sent again in about %.0f s",
            campaign_id,
            row + 1,
            error_code,
            retry_in_seconds or 0.0,
            extra=extra,
        )
    else:
        log.warning("campaign %s row %d failed (%s)", campaign_id, row + 1, error_code, extra=extra)
