"""One campaign input row: the check of a username, a reject, and the intake that counts.

Rows are accepted in order. A repeated username is dropped and counted; in a pool whose
usernames are case-insensitive (new Cognito pools: ``UsernameConfiguration.CaseSensitive``
false, see https://repost.aws/knowledge-center/cognito-signin-case-sensitivity) names that
differ only in letter case name one user, so they are merged (the first spelling is kept)
and counted apart from exact repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from worker.campaign.model import MAX_REJECTS_SHOWN
from worker.errors import InvalidRequestError
from worker.identity.clients import fold_username
from worker.validation import check_username

__all__ = ["Intake", "Reject", "check_row"]

_PLAIN_ASCII = re.compile(r"[!-~]{1,128}")  # printable ASCII without space: always valid


@dataclass(frozen=True)
class Reject:
    """A row that was not accepted: its line (from 1, as an editor shows it) and why."""

    line: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The ``{"line", "reason"}`` form of the start document."""
        return {"line": self.line, "reason": self.reason}


@dataclass
class Intake:
    """Accepts usernames in order: drops repeats, keeps rejects, counts both.

    Attributes:
        case_sensitive: False (the default) merges names that differ only in letter
            case, compared case-folded as the per-user guard counts them
            (:func:`worker.identity.clients.fold_username`); True keeps them apart.
        accepted: rows accepted (each a distinct user).
        rejected: rows rejected (all of them counted).
        duplicates: rows dropped as exact repeats of an accepted name.
        case_merged: rows dropped because an accepted name differs from them only in case.
        rejects: the first ``keep_rejects`` rejects, in input order.
        keep_rejects: how many rejects to keep (the start document shows 1,000).
    """

    case_sensitive: bool = False
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    case_merged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    keep_rejects: int = MAX_REJECTS_SHOWN
    _seen: dict[str, str] = field(default_factory=dict, repr=False)

    @staticmethod
    def _fold(name: str) -> str:
        return fold_username(name, case_sensitive=False)

    def offer(self, value: str | Reject) -> str | None:
        """Return the username if it is new and valid; otherwise count it and return None."""
        if isinstance(value, Reject):
            self.reject(value)
            return None
        key = value if self.case_sensitive else self._fold(value)
        kept = self._seen.get(key)
        if kept is not None:
            if kept == value:
                self.duplicates += 1
            else:
                self.case_merged += 1
            return None
        self._seen[key] = value
        self.accepted += 1
        return value

    def reject(self, reject: Reject) -> None:
        """Count ``reject`` and keep it if fewer than ``keep_rejects`` are kept."""
        self.rejected += 1
        if len(self.rejects) < self.keep_rejects:
            self.rejects.append(reject)


def check_row(line: int, raw: str) -> str | Reject:
    """Validate one username (surrounding whitespace removed) or say why it is rejected."""
    name = raw.strip()
    if _PLAIN_ASCII.fullmatch(name):
        return name
    if not name:
        return Reject(line, "empty username")
    try:
        return check_username(name)
    except InvalidRequestError as exc:
        return Reject(line, f"username {exc.message}")
