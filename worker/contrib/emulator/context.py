"""What an operation's handler sees of the emulator run: the seam between the handlers
(:mod:`.admin`, :mod:`.auth`, :mod:`.codes`, :mod:`.listusers`, :mod:`.common`) and the
run that dispatches to them (:class:`worker.contrib.emulator.core.Emulator`).

The handlers are typed against this Protocol rather than the run's class, so they never
import :mod:`.core`, which imports them to build its table of operations.
"""

from __future__ import annotations

from typing import Protocol

from worker.contrib.emulator.codebook import CodeBook
from worker.contrib.emulator.config import EmulatorConfig
from worker.contrib.emulator.limits import HourlyCap
from worker.contrib.emulator.state import Directory
from worker.contrib.emulator.stats import Recorder
from worker.contrib.emulator.tokens import TokenIssuer

__all__ = ["Context"]


class Context(Protocol):
    """The run's state and services an operation may use while it handles one call.

    Attributes:
        config: the run's configuration (quotas, cap, lifetimes, Region).
        directory: the pools, their clients and users.
        tokens: issues and checks the run's RS256 tokens.
        call_region: the Region the call being handled was meant for.
        recorder: every delivery and call, for the admin endpoints.
        caps: the per-user hourly cap (5 codes per user and hour, like Cognito).
        codebook: the codes outstanding, which ConfirmSignUp and VerifyUserAttribute redeem.
        challenges: open NEW_PASSWORD_REQUIRED sessions: Session -> (pool id, client id,
            username).
    """

    config: EmulatorConfig
    directory: Directory
    tokens: TokenIssuer
    call_region: str
    recorder: Recorder
    caps: HourlyCap
    codebook: CodeBook
    challenges: dict[str, tuple[str, str, str]]

    def next_code(self) -> str:
        """A 6-digit confirmation code from the run's seeded sequence."""
        ...

    def spend_default_email(self, region: str) -> None:
        """Count one e-mail of Cognito's default sender in ``region`` this UTC day.

        Raises:
            ServiceError: LimitExceededException past the run's ``daily_email_limit``.
        """
        ...
