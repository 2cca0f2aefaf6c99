"""Checks before a campaign starts: what the pool's email sender allows.

With the default Cognito email sender (``COGNITO_DEFAULT``) a whole account may send 50
emails a day; a larger campaign to an email-verified pool would mostly fail with
``LimitExceededException`` or never arrive. DescribeUserPool needs IAM credentials;
without them the check is skipped and says so.
"""

from __future__ import annotations

from typing import Any

from worker.cognito import make_client, to_cognito_error
from worker.errors import ConfigurationError
from worker.settings import Settings

__all__ = ["COGNITO_DEFAULT_EMAILS_PER_DAY", "preflight_warnings"]

COGNITO_DEFAULT_EMAILS_PER_DAY = 50


def preflight_warnings(settings: Settings, user_pool_id: str | None, rows: int) -> list[str]:
    """Warnings for a campaign of ``rows`` users in ``user_pool_id`` (none when all is well)."""
    if user_pool_id is None:
        return []
    try:
        client = make_client(settings, signed=True)
    except ConfigurationError:
        return [f"preflight skipped: DescribeUserPool on {user_pool_id} needs IAM credentials"]
    try:
        pool: dict[str, Any] = dict(client.describe_user_pool(UserPoolId=user_pool_id)["UserPool"])
    except Exception as exc:
        try:
            reason = str(to_cognito_error(exc))
        except TypeError:
            reason = type(exc).__name__
        return [f"preflight: DescribeUserPool on {user_pool_id} failed ({reason})"]
    warnings = []
    email = pool.get("EmailConfiguration") or {}
    sending = email.get("EmailSendingAccount", "COGNITO_DEFAULT")
    verified = pool.get("AutoVerifiedAttributes")
    verifies_email = not verified or "email" in verified  # unknown: assume email
    if sending == "COGNITO_DEFAULT" and verifies_email and rows > COGNITO_DEFAULT_EMAILS_PER_DAY:
        warnings.append(
            f"pool {user_pool_id} sends email with the default Cognito sender "
            f"(COGNITO_DEFAULT: {COGNITO_DEFAULT_EMAILS_PER_DAY} emails a day per account) "
            f"and this campaign has {rows} users: configure Amazon SES (DEVELOPER) first"
        )
    return warnings
