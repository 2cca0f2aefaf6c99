"""Whom a failed Cognito answer is about: the user, or the pool, the client or the account.

One table, :data:`ANSWER_SCOPES`, and :func:`answer_scope` for codes whose meaning
depends on the message. :mod:`worker.errors` re-exports every name, which is where
callers import them from; this module needs nothing else of the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ANSWER_SCOPES",
    "DELIVERY_RUN_USERS",
    "TRIGGER_RUN_USERS",
    "AnswerScope",
    "Concern",
    "answer_scope",
]


class Concern(Enum):
    """Whom a failed Cognito answer is about."""

    USER = "user"
    """This user only (unknown, already confirmed, ...): the row fails, the rest goes on."""
    USER_HOUR = "user_hour"
    """This user's five calls of the hour are spent: the row is deferred (or skipped)."""
    POOL = "pool"
    """The pool or its triggers (Lambda, SMS/e-mail roles): every user would meet it."""
    CLIENT = "client"
    """The app client (unknown id, SecretHash refused for every user)."""
    ACCOUNT = "account"
    """The AWS account (the default e-mail sender's daily quota, SMS spend limits)."""


@dataclass(frozen=True)
class AnswerScope:
    """Whom an answer is about, and how a campaign that meets it reacts.

    Attributes:
        concern: whom the answer is about.
        pause_after_users: distinct users in a row (no success between, within
            :data:`worker.campaign.account.RUN_WINDOW_SECONDS`) answered so before a
            campaign pauses itself; 1 pauses at the first answer, None never pauses.
    """

    concern: Concern
    pause_after_users: int | None

    @property
    def pauses_at_once(self) -> bool:
        """True when the first such answer pauses a campaign."""
        return self.pause_after_users == 1


USER_ANSWER = AnswerScope(Concern.USER, None)
USER_HOUR_ANSWER = AnswerScope(Concern.USER_HOUR, None)
TRIGGER_RUN_USERS = 3
"""Distinct users whose trigger (or SecretHash, WAF) failed in a row that pause a campaign:
a trigger may refuse one user on purpose (UserLambdaValidationException), so one is not
enough; three in a row within a minute, with no success between, is the trigger."""
DELIVERY_RUN_USERS = 10
"""Distinct users in a row answered LimitExceeded/CodeDeliveryFailure (not the user's own
hour) that pause a campaign: SMS and e-mail limits have no documented wording."""

ANSWER_SCOPES: dict[str, AnswerScope] = {
    # the client or the pool does not exist (a mistyped --client-id): at once
    "ResourceNotFoundException": AnswerScope(Concern.CLIENT, 1),
    # the pool's SMS / e-mail roles and policies (Cognito API Reference, error list of
    # ResendConfirmationCode): every user of the pool meets them, at once
    "InvalidSmsRoleAccessPolicyException": AnswerScope(Concern.POOL, 1),
    "InvalidSmsRoleTrustRelationshipException": AnswerScope(Concern.POOL, 1),
    "InvalidEmailRoleAccessPolicyException": AnswerScope(Concern.POOL, 1),
    # Lambda triggers (custom message, custom sender): a broken trigger fails every user
    "UnexpectedLambdaException": AnswerScope(Concern.POOL, TRIGGER_RUN_USERS),
    "UserLambdaValidationException": AnswerScope(Concern.POOL, TRIGGER_RUN_USERS),
    "InvalidLambdaResponseException": AnswerScope(Concern.POOL, TRIGGER_RUN_USERS),
    # the pool's AWS WAF web ACL refused the request
    "ForbiddenException": AnswerScope(Concern.POOL, TRIGGER_RUN_USERS),
    # no documented wording for SMS/e-mail delivery limits: a run (messages below first)
    "CodeDeliveryFailureException": AnswerScope(Concern.ACCOUNT, DELIVERY_RUN_USERS),
    "LimitExceededException": AnswerScope(Concern.ACCOUNT, DELIVERY_RUN_USERS),
}
"""Cognito error code -> whom it is about, where the code alone says it (codes from
botocore's cognito-idp model; every code not listed is about the user). Messages refine
it first (:func:`answer_scope`):

=========================================  =============================================  ========
code (message)                             about                                          pauses
=========================================  =============================================  ========
ResourceNotFoundException                  the client or pool (unknown id)                at once
InvalidSmsRole{AccessPolicy,TrustRelation  the pool's SMS role                            at once
ship}Exception
InvalidEmailRoleAccessPolicyException      the pool's e-mail role                         at once
LimitExceededException "daily email        the account (default e-mail sender, 50/day)    at once
limit"
Code delivery / limit "spend limit",       the account (SMS spending)                     at once
"SMS sandbox"
UnexpectedLambdaException,                 the pool's Lambda trigger                      3 users
UserLambdaValidationException,
InvalidLambdaResponseException
NotAuthorizedException "secret hash" /     the client's secret (COURIER_CLIENT_SECRETS)   3 users
"configured for secret"
ForbiddenException                         the pool's AWS WAF web ACL                     3 users
LimitExceededException (other),            the account's SMS/e-mail delivery (no          10 users
CodeDeliveryFailureException               documented wording)
LimitExceededException "Attempt limit      this user's hour (5 calls)                     never
exceeded"
every other code                           this user                                      never
=========================================  =============================================  ========
"""

_USER_HOUR = re.compile(r"attempt limit exceeded", re.IGNORECASE)
_ACCOUNT_LIMIT = re.compile(
    r"daily email limit|spend(?:ing)? limit|sms sandbox|sandbox.*\bsms\b", re.IGNORECASE
)
_SECRET_REFUSED = re.compile(r"secret hash|configured (?:for|with) secret", re.IGNORECASE)
_LIMIT_CODES = frozenset({"LimitExceededException", "CodeDeliveryFailureException"})


def answer_scope(code: str | None, message: str | None) -> AnswerScope:
    """Whom the answer ``code`` / ``message`` is about (the table above).

    ``code`` is a Cognito error code or a project code (``Courier...``, always about the
    user); None (no error) is about the user too.
    """
    if code is None:
        return USER_ANSWER
    text = message or ""
    if code in _LIMIT_CODES:
        if code == "LimitExceededException" and _USER_HOUR.search(text):
            return USER_HOUR_ANSWER
        if _ACCOUNT_LIMIT.search(text):
            return AnswerScope(Concern.ACCOUNT, 1)
    if code == "NotAuthorizedException" and _SECRET_REFUSED.search(text):
        return AnswerScope(Concern.CLIENT, TRIGGER_RUN_USERS)
    return ANSWER_SCOPES.get(code, USER_ANSWER)
