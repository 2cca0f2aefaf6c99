"""The book of outstanding codes (see :mod:`.redeem` for the rules and their sources)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from worker.contrib.emulator.errors import ATTEMPT_LIMIT_MESSAGE, ServiceError

__all__ = ["CODE_LIFETIME_SECONDS", "SIGNUP", "WRONG_ATTEMPT_LIMIT", "CodeBook", "purpose_of"]

CODE_LIFETIME_SECONDS = 24 * 3600.0
WRONG_ATTEMPT_LIMIT = 5
SIGNUP = "signup"
_MISMATCH = "Invalid verification code provided, please try again."
_EXPIRED = "Invalid code provided, please request a code again."


_ATTRIBUTE_OPERATIONS = frozenset(
    {"GetUserAttributeVerificationCode", "UpdateUserAttributes", "AdminUpdateUserAttributes"}
)


def purpose_of(operation: str, attribute: str) -> str:
    """The purpose a code sent by ``operation`` for ``attribute`` is redeemed for."""
    if operation in _ATTRIBUTE_OPERATIONS:
        return f"verify:{attribute}"
    return SIGNUP


@dataclass
class _Outstanding:
    code: str
    issued: float
    wrong: int = 0


class CodeBook:
    """The newest code of each ``(pool id, username, purpose)``.

    Codes are held per user, so that forgetting a user (AdminDeleteUser) does not scan
    the whole book: a campaign over a million synthetic users leaves a million entries.
    """

    def __init__(self) -> None:
        self._codes: dict[tuple[str, str], dict[str, _Outstanding]] = {}

    def issue(self, key: tuple[str, str, str], code: str, *, now: float | None = None) -> None:
        """Make ``code`` the only one accepted for ``key`` (wrong attempts start again)."""
        pool_id, username, purpose = key
        issued = time.time() if now is None else now
        self._codes.setdefault((pool_id, username), {})[purpose] = _Outstanding(code, issued)

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        """Whether a code is outstanding for ``key`` (``(pool id, username, purpose)``)."""
        pool_id, username, purpose = key
        return purpose in self._codes.get((pool_id, username), {})

    def forget(self, pool_id: str, username: str, purpose: str | None = None) -> None:
        """Stop accepting the user's code for ``purpose``, or every code of the user (None)."""
        if purpose is None:
            self._codes.pop((pool_id, username), None)
            return
        codes = self._codes.get((pool_id, username))
        if codes is not None:
            codes.pop(purpose, None)
            if not codes:
                del self._codes[(pool_id, username)]

    def clear(self) -> None:
        """Forget every code."""
        self._codes.clear()

    def redeem(self, key: tuple[str, str, str], code: str, *, now: float | None = None) -> None:
        """Accept ``code`` for ``key`` and forget it.

        Raises:
            ServiceError: LimitExceededException after :data:`WRONG_ATTEMPT_LIMIT` wrong
                codes; CodeMismatchException for a wrong code or none outstanding;
                ExpiredCodeException for the right code older than 24 h.
        """
        pool_id, username, purpose = key
        entry = self._codes.get((pool_id, username), {}).get(purpose)
        if entry is None:
            raise ServiceError("CodeMismatchException", _MISMATCH)
        if entry.wrong >= WRONG_ATTEMPT_LIMIT:
            raise ServiceError("LimitExceededException", ATTEMPT_LIMIT_MESSAGE)
        if code != entry.code:
            entry.wrong += 1
            raise ServiceError("CodeMismatchException", _MISMATCH)
        if (time.time() if now is None else now) - entry.issued > CODE_LIFETIME_SECONDS:
            raise ServiceError("ExpiredCodeException", _EXPIRED)
        self.forget(pool_id, username, purpose)
