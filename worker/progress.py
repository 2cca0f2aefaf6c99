"""What one request's delivery has done so far, kept across re-runs of the delivery.

A delivery (:func:`worker.delivery.deliver`) interrupted by a Redis outage is run again by
its caller once Redis is back (:func:`worker.liveness.heartbeat.patiently`). The
:class:`Progress` the caller keeps makes the second run go on where the first stopped:
the calls that left and those that went unanswered stay counted, the retry budget
(COURIER_RETRY_MAX_ATTEMPTS, COURIER_RETRY_MAX_SECONDS, COURIER_AMBIGUOUS_RETRIES) is
not restarted, and a guard slot reserved or a call counted for a call that never left is
used for it rather than taken again. A :class:`Tally` is where a caller counts the calls
as they happen (a job: its status document in Redis).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from worker.errors import AmbiguousCallError, CognitoError

if TYPE_CHECKING:
    from worker.settings import Settings

__all__ = ["Progress", "Tally"]


class Tally(Protocol):
    """Where a caller counts calls as they happen (a job: its status document in Redis)."""

    def call_leaving(self) -> None:
        """A call is about to take its permit and leave: count it (+1)."""

    def call_stayed(self) -> None:
        """The counted call did not leave after all (no permit in time): uncount it."""

    def answer_lost(self) -> None:
        """A call left and no answer came (ambiguous): count it."""


@dataclass
class Progress:
    """What one request's delivery has done so far; see the module.

    Attributes:
        attempts: calls that left.
        ambiguous: of them, those whose answer never came.
        tries: turns of the retry loop (a permit wait that timed out is one too).
        since_ambiguous: calls that left since the first ambiguous one, None before it.
        last_error: the last failure a call met.
        slot_held: a guard slot is reserved for a call that has not left yet.
        count_pending: the tally counted a call that has not left yet.
        lost_unrecorded: ambiguous calls the tally has not been told of yet.
        started: when the delivery began (monotonic), for COURIER_RETRY_MAX_SECONDS.
    """

    attempts: int = 0
    ambiguous: int = 0
    tries: int = 0
    since_ambiguous: int | None = None
    last_error: CognitoError | None = None
    slot_held: bool = False
    count_pending: bool = False
    lost_unrecorded: int = 0
    started: float = field(default_factory=time.monotonic)

    def spent(self, settings: Settings) -> bool:
        """True when no further attempt may be made (the retry bounds, or the ambiguous
        calls' COURIER_AMBIGUOUS_RETRIES)."""
        if self.tries >= settings.retry_max_attempts:
            return True
        if time.monotonic() - self.started >= settings.retry_max_seconds:
            return True
        return self.since_ambiguous is not None and (
            self.since_ambiguous >= settings.ambiguous_retries
        )

    def leaving(self, step: int = 1) -> None:
        """A call leaves now (``step`` -1: it was refused before it left after all)."""
        self.attempts += step
        self.slot_held = self.count_pending = step < 0
        if self.since_ambiguous is not None:
            self.since_ambiguous += step

    def met(self, error: CognitoError) -> None:
        """The call that left met ``error``."""
        self.last_error = error
        if isinstance(error, AmbiguousCallError):
            self.ambiguous += 1
            self.lost_unrecorded += 1
            if self.since_ambiguous is None:
                self.since_ambiguous = 0

    def flush(self, tally: Tally | None) -> None:
        """Tell ``tally`` of the unanswered calls it has not heard of yet."""
        while self.lost_unrecorded and tally is not None:
            tally.answer_lost()
            self.lost_unrecorded -= 1
