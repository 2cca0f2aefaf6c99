"""A campaign status document's derived figures: its state, rate, ETA and duration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worker.campaign.model import OPEN_STATES, CampaignState

__all__ = [
    "ShareReads",
    "MIN_MEASURED_CALLS",
    "MIN_MEASURED_SECONDS",
    "RATE_WINDOW_SECONDS",
    "Figures",
    "Share",
    "document_state",
]

RATE_WINDOW_SECONDS = 15
"""The status document's ``rate`` is the mean calls/s over this many whole seconds."""
MIN_MEASURED_CALLS = 50
"""Calls measured before the ETA trusts the measured rate over the budget share."""
MIN_MEASURED_SECONDS = 3.0
"""Seconds of sending measured before the ETA trusts the measured rate."""


@dataclass(frozen=True)
class Share:
    """A campaign's part of the bulk rate now, as the limiter paces it.

    Attributes:
        rate_per_second: calls/s it may take (``bulk rate * weight / sum of the weights of
            the campaigns active in the last few seconds``).
        fraction: that rate over the bulk rate (0 < fraction <= 1).
    """

    rate_per_second: float
    fraction: float

    def as_dict(self) -> dict[str, Any]:
        """The document's ``share`` object."""
        return {
            "fraction": round(self.fraction, 4),
            "rate_per_second": round(self.rate_per_second, 3),
        }


NO_SHARE: dict[str, Any] = {"fraction": None, "rate_per_second": None}

ShareReads = Callable[[Any], Callable[[Sequence[Any]], tuple[float, float] | None]]
"""Queues the reads of a campaign's share on a pipeline; returns the reader of their
replies, which answers ``(calls/s, fraction of the bulk rate)`` or None
(:meth:`worker.ratelimit.RegionalLimiters.queue_campaign_share`)."""
"""The document's ``share`` while the campaign takes no permits."""


class Figures:
    """A campaign's rate, ETA and duration, honest from the first second to the last.

    * ``rate`` while running: calls/s over the last :data:`RATE_WINDOW_SECONDS` whole
      seconds, or over the seconds since the first call when fewer have passed (a window
      of idle seconds before the start would understate it 4x); once finished: the
      average over the campaign, ``calls`` / (last call - first call), which stays put.
    * ``eta_seconds``: None while paused (nothing is sent until ``resume``); else open rows
      at the campaign's current share of the bulk rate (``share``; before its first
      permit, ``budget_rate`` stored at creation) until :data:`MIN_MEASURED_CALLS` calls
      over at least :data:`MIN_MEASURED_SECONDS` were measured, then at the measured rate;
      never before the last deferred row is due.
    * ``duration_seconds``: creation to finish (or to now).
    """

    def __init__(
        self,
        meta: dict[str, str],
        counts: dict[str, int],
        now: float,
        share: Share | None = None,
    ) -> None:
        self.meta, self.counts, self.now, self.share = meta, counts, now, share
        self.first = float(meta["first_call_at"]) if "first_call_at" in meta else None

    def duration_seconds(self) -> float:
        end = float(self.meta.get("finished_at", self.now))
        return max(0.0, end - float(self.meta["created_at"]))

    def rate(self, raw_rate: dict[bytes, bytes], *, finished: bool) -> float:
        calls = int(self.meta.get("calls", 0))
        if finished:
            if self.first is None or calls == 0:
                return 0.0
            sending = float(self.meta.get("last_call_at", self.first)) - self.first
            return calls / max(1.0, sending)
        second = int(self.now)
        window = RATE_WINDOW_SECONDS
        if self.first is not None:
            window = max(1, min(RATE_WINDOW_SECONDS, second - int(self.first)))
        recent = 0
        for slot in range(32):
            stamp = raw_rate.get(f"t{slot}".encode())
            if stamp is not None and second - window <= int(stamp) < second:
                recent += int(raw_rate.get(f"n{slot}".encode(), b"0"))
        return recent / window

    def eta_seconds(self, state: str, rate: float, last_due: float | None) -> float | None:
        open_rows = sum(self.counts[name] for name in OPEN_STATES)
        if state in ("cancelled", "done") or (open_rows == 0 and state != "ingesting"):
            return 0.0
        if state == "paused":
            return None
        measured = (
            self.first is not None
            and int(self.meta.get("calls", 0)) >= MIN_MEASURED_CALLS
            and self.now - self.first >= MIN_MEASURED_SECONDS
        )
        budget = float(self.meta.get("budget_rate", 0) or 0)
        if self.share is not None:
            budget = self.share.rate_per_second
        pace = rate if measured else budget
        if pace <= 0:
            pace = rate
        if pace <= 0:
            return None
        eta = open_rows / pace
        if last_due is not None:
            eta = max(eta, last_due - self.now)
        return eta


def document_state(meta: dict[str, str]) -> CampaignState:
    """The document's ``state`` from the meta's control state, ingest and finish."""
    control = meta.get("state", "active")
    if control == "cancelled":
        return "cancelled"
    if "finished_at" in meta:
        return "done"
    if control == "paused":
        return "paused"
    if meta.get("ingest") != "done":
        return "ingesting"
    return "running"
