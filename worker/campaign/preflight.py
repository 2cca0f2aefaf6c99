"""Checks before a campaign starts: what the pool allows (DescribeUserPool, needs IAM).

* **The default e-mail sender.** With ``EmailSendingAccount`` ``COGNITO_DEFAULT`` a whole
  AWS account may send 50 e-mails a day (Amazon Cognito Developer Guide, "E-mail settings
  for Amazon Cognito user pools"; public reports: cds-snc/platform-forms-client#1104,
  rahulpsd18/cognito-backup-restore#46). Preflight says how many of the campaign's users
  can be reached today at most; past that Cognito answers ``LimitExceededException``
  "Exceeded daily email limit for the operation or the account." and the campaign pauses
  itself (:mod:`worker.campaign.account`).
* **Username case.** ``UsernameConfiguration.CaseSensitive`` false means ``Alice`` and
  ``alice`` are one user (repost.aws knowledge-center cognito-signin-case-sensitivity); a
  pool described without ``UsernameConfiguration`` predates the setting and is
  case-sensitive. Unknown (no pool id, no IAM): campaign rows are merged case-insensitively,
  as new pools behave.

Without IAM credentials or with DescribeUserPool refused, preflight says so and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.cognito import CognitoGateway
from worker.errors import CognitoError, ConfigurationError

__all__ = ["COGNITO_DEFAULT_EMAILS_PER_DAY", "PoolFacts", "describe_pool"]

COGNITO_DEFAULT_EMAILS_PER_DAY = 50


@dataclass(frozen=True)
class PoolFacts:
    """What preflight learned about a pool (``None``: not known).

    Attributes:
        user_pool_id: the pool, or None when the campaign named none.
        case_sensitive: the pool's username case sensitivity.
        emails_per_day: 50 when the pool sends e-mail with the default Cognito sender and
            verifies e-mail (or its verified attributes are unknown); None otherwise.
        notes: why something is not known (no IAM, DescribeUserPool refused).
    """

    user_pool_id: str | None = None
    case_sensitive: bool | None = None
    emails_per_day: int | None = None
    notes: list[str] = field(default_factory=list)

    def reachable_today(self, rows: int) -> int | None:
        """The most of ``rows`` users that can get an e-mail today (None: no known cap)."""
        if self.emails_per_day is None:
            return None
        return min(rows, self.emails_per_day)

    def warnings(self, rows: int) -> list[str]:
        """Warnings for a campaign of ``rows`` users (empty when all is well)."""
        warnings = list(self.notes)
        reachable = self.reachable_today(rows)
        if reachable is not None and rows > reachable:
            warnings.append(
                f"pool {self.user_pool_id} sends e-mail with the default Cognito sender "
                f"(COGNITO_DEFAULT: {self.emails_per_day} e-mails a day for the whole account): "
                f"at most {reachable} of this campaign's {rows} users can be reached today "
                "(fewer if the account sent e-mail today); the campaign pauses when Cognito "
                "answers the daily limit. Configure Amazon SES (DEVELOPER) first"
            )
        return warnings


def describe_pool(gateway: CognitoGateway, user_pool_id: str | None) -> PoolFacts:
    """Describe ``user_pool_id`` (one DescribeUserPool call through the gateway); never
    raises for Cognito or missing credentials: the facts' ``notes`` say what was skipped."""
    if user_pool_id is None:
        return PoolFacts()
    try:
        pool: dict[str, Any] = gateway.describe_user_pool(user_pool_id)
    except ConfigurationError:
        note = f"preflight skipped: DescribeUserPool on {user_pool_id} needs IAM credentials"
        return PoolFacts(user_pool_id, notes=[note])
    except CognitoError as exc:  # any failure only skips the check, and says so
        note = f"preflight: DescribeUserPool on {user_pool_id} failed ({exc})"
        return PoolFacts(user_pool_id, notes=[note])
    email = pool.get("EmailConfiguration") or {}
    default_sender = email.get("EmailSendingAccount", "COGNITO_DEFAULT") == "COGNITO_DEFAULT"
    verified = pool.get("AutoVerifiedAttributes")
    verifies_email = not verified or "email" in verified  # unknown: assume e-mail
    username = pool.get("UsernameConfiguration")
    return PoolFacts(
        user_pool_id,
        case_sensitive=bool(username.get("CaseSensitive", True)) if username else True,
        emails_per_day=COGNITO_DEFAULT_EMAILS_PER_DAY
        if default_sender and verifies_email
        else None,
    )
