"""The campaign vocabulary: row states and their one-byte codes, key names, tunables.

A campaign is a list of rows (one per username) kept compactly in Redis under
``courier:campaign:{id}:``. Each row has one state byte in the ``rows`` string:

====  ===========  ==========================================================
code  state        meaning
====  ===========  ==========================================================
0     queued       not sent yet (a zero byte, so growing the string queues rows)
1     running      claimed by a chunk task; a call may be on its way
2     succeeded    Cognito delivered a code
3     failed       Cognito (or the retry bounds) refused
4     skipped      not sent on purpose (per-user cap with ``on_user_cap=skip``)
5     cancelled    the campaign was cancelled before the row was sent
6     deferred     per-user cap reached; waits in the ``deferred`` zset for its window
7     running      claimed by a retry batch of deferred rows (counted as ``running``)
====  ===========  ==========================================================
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final, Literal

__all__ = [
    "CAMPAIGN_INDEX_KEY",
    "CODE_BY_STATE",
    "COUNTED_STATES",
    "DEFAULT_CHUNK_SIZE",
    "MAX_REJECTS_SHOWN",
    "MAX_REJECTS_STORED",
    "OPEN_STATES",
    "STATE_BY_CODE",
    "TERMINAL_CODES",
    "CampaignKeys",
    "CampaignState",
    "Claim",
    "MemberResult",
    "OnUserCap",
    "PumpResult",
    "Take",
]

OnUserCap = Literal["defer", "skip"]
CampaignState = Literal["ingesting", "running", "paused", "cancelled", "done"]
"""The ``state`` of the campaign status document (DESIGN.md)."""

QUEUED, RUNNING, SUCCEEDED, FAILED, SKIPPED, CANCELLED, DEFERRED, RUNNING_BATCH = range(8)

STATE_BY_CODE: Final = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "deferred",
    "running",
)
CODE_BY_STATE: Final = {name: code for code, name in enumerate(STATE_BY_CODE[:7])}
COUNTED_STATES: Final = STATE_BY_CODE[:7]
"""The ``counts`` keys of the status document, always all present."""
OPEN_STATES: Final = ("queued", "running", "deferred")
TERMINAL_CODES: Final = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELLED})

DEFAULT_CHUNK_SIZE: Final = 1000
"""Usernames per ``users:{n}`` string (and rows per chunk task)."""
MAX_REJECTS_SHOWN: Final = 1000
"""Rejected rows listed in the start document (all are counted)."""
MAX_REJECTS_STORED: Final = 100_000
"""Rejected rows kept with a campaign for its report (all are counted)."""

CAMPAIGN_INDEX_KEY: Final = "courier:campaigns"
"""Sorted set of campaign ids scored by creation time (seconds since the epoch)."""


class PumpResult(IntEnum):
    """What a pump found (the codes of :data:`worker.campaign.scripts.FINISH`)."""

    GONE = -1
    """The campaign no longer exists."""
    OPEN = 0
    """Work remains (or the listing goes on)."""
    FINISHED = 1
    """Every row is settled; ``finished_at`` is stamped."""
    UNREACHED = 2
    """Open rows that nothing leased will reach (a lost message): reconciled, queued again."""


class Take(IntEnum):
    """Whether a chunk task may hold its member (the codes of ``scripts.TAKE``)."""

    GONE = -1
    """The campaign no longer exists."""
    BUSY = 0
    """Another task holds the member and still beats for it."""
    TAKEN = 1
    """This task holds the member now."""
    STALE = 2
    """The member was released already: this message is a stale copy."""


class Claim(IntEnum):
    """The code ``scripts.CLAIM`` returns for each row; a negative one ends the batch."""

    CANCELLED = -4
    PAUSED = -3
    LOST = -2
    """The member's lease went to another task."""
    GONE = -1
    """The campaign no longer exists."""
    NOTHING = 0
    """The row is settled or not this member's: nothing to send."""
    CLAIMED = 1
    CLAIMED_AGAIN = 2
    """Claimed again after its holder stopped: it was in flight at a crash."""


class MemberResult(StrEnum):
    """How a chunk task's turn with a member ended (its task result, as the string)."""

    DONE = "done"
    """Every open row of the member was sent and recorded."""
    SLICED = "sliced"
    """The task gave its thread back (time slice, or a stopping worker): requeued."""
    PAUSED = "paused"
    """The campaign is paused (by an operator, or for an answer about the account)."""
    CANCELLED = "cancelled"
    LOST = "lost"
    """Another task holds the member now (this one's lease ran out)."""
    BUSY = "busy"
    """Another live task holds the member: this message is a duplicate."""
    STALE = "stale"
    """The member was released already: this message is a stale copy."""
    GONE = "gone"
    """The campaign no longer exists."""


class CampaignKeys:
    """The Redis key names of one campaign (all share the prefix and the expiry)."""

    def __init__(self, campaign_id: str) -> None:
        self.campaign_id = campaign_id
        self.prefix = f"courier:campaign:{campaign_id}:"
        self.meta = self.prefix + "meta"  # hash: name, state, totals, timestamps, options
        self.counts = self.prefix + "counts"  # hash: row state -> number of rows
        self.rows = self.prefix + "rows"  # string: one state byte per row
        self.rate = self.prefix + "rate"  # hash: ring of per-second call counters
        self.leases = self.prefix + "leases"  # zset: member -> lease deadline (s)
        self.owners = self.prefix + "owners"  # hash: member -> task id holding it
        self.requeue = self.prefix + "requeue"  # list: members to dispatch again first
        self.deferred = self.prefix + "deferred"  # zset: row -> due time (s)
        self.redeliveries = self.prefix + "redeliveries"  # hash: row -> times sent again
        self.rejects = self.prefix + "rejects"  # string: "line<TAB>reason<LF>" per reject
        self.run = self.prefix + "run"  # set: rows of the current account-answer run

    def users(self, chunk: int) -> str:
        """String of chunk ``chunk``'s usernames, each followed by a newline."""
        return f"{self.prefix}users:{chunk}"

    def outcomes(self, chunk: int) -> str:
        """String of chunk ``chunk``'s outcome records, appended as rows settle."""
        return f"{self.prefix}out:{chunk}"

    def batch(self, batch_id: str) -> str:
        """String of a retry batch's row numbers, comma-separated."""
        return f"{self.prefix}batch:{batch_id}"
