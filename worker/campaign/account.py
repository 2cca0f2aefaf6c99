"""Answers about the pool, the client or the account, not the user: the campaign pauses.

Cognito answers some calls for the whole pool, client or account, and every later row
would meet the same answer; failing them all would burn the campaign (and one of each
user's five hourly sends) in a second. Which answers those are, and after how many
distinct users, is one table in the error tree (:data:`worker.errors.ANSWER_SCOPES`,
:func:`worker.errors.answer_scope`):

* **at once**: an unknown client or pool (``ResourceNotFoundException``: a mistyped
  ``--client-id``), the pool's SMS or e-mail role and policy errors, the default e-mail
  sender's daily quota (``LimitExceededException`` "Exceeded daily email limit for the
  operation or the account. ...": 50 e-mails a day per account with ``COGNITO_DEFAULT``;
  public: aws-amplify/amplify-cli#7412, cds-snc/platform-forms-client#1104), SMS spending
  limits where the message names them (``spend limit``, ``SMS sandbox``);
* **a run of 3 distinct users**: Lambda trigger failures (``UnexpectedLambdaException``,
  ``UserLambdaValidationException``, ``InvalidLambdaResponseException``), a SecretHash
  refused (``NotAuthorizedException`` naming the secret), the pool's WAF
  (``ForbiddenException``): a trigger may refuse one user on purpose, a run is the trigger;
* **a run of** :data:`RUN_DISTINCT_USERS` **distinct users**: ``LimitExceededException``
  (other than the per-user cap) or ``CodeDeliveryFailureException``, whose delivery limits
  AWS documents no wording for.

A run is distinct users in a row (no success between, any worker), each within
:data:`RUN_WINDOW_SECONDS` of the last. The rows that met the condition go back to be
sent later (their guard slots released), the campaign pauses itself with
``pause_reason`` ``{"code", "message", "at"}``, and ``courier campaign resume``
continues once the operator has fixed it.

Cognito's per-user answer ``LimitExceededException`` "Attempt limit exceeded, please try
after some time." (public: aws-amplify/amplify-js#8013) is no account condition: that row
is deferred like a row the per-user guard deferred, and the guard learns the calls it did
not see (:meth:`worker.guard.UserGuard.saturate`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from worker.campaign.store import CampaignStore, iso
from worker.delivery import Outcome
from worker.errors import DELIVERY_RUN_USERS, AnswerScope, Concern, answer_scope

__all__ = [
    "RUN_DISTINCT_USERS",
    "RUN_WINDOW_SECONDS",
    "classify",
    "is_user_hour",
    "pause_self",
    "run_hit",
    "run_reason",
    "run_rows",
]

RUN_DISTINCT_USERS = DELIVERY_RUN_USERS
"""Distinct users in a row answering LimitExceeded/CodeDeliveryFailure that pause a campaign."""
RUN_WINDOW_SECONDS = 60
"""A run is forgotten when no such answer came for this long."""


def classify(outcome: Outcome) -> AnswerScope:
    """Whom a row's answer is about, and after how many distinct users it pauses."""
    return answer_scope(outcome.error_code, outcome.error_message)


def is_user_hour(outcome: Outcome) -> bool:
    """True when Cognito said the user's hour is spent ("Attempt limit exceeded")."""
    return classify(outcome).concern is Concern.USER_HOUR


def reason(outcome: Outcome) -> dict[str, Any]:
    """The ``pause_reason`` for an account answer: Cognito's code and message, and when."""
    return {
        "code": outcome.error_code,
        "message": outcome.error_message or "",
        "at": iso(time.time()),
    }


def run_reason(outcome: Outcome, users: int) -> dict[str, Any]:
    """The ``pause_reason`` for a run of ``users`` distinct users."""
    about = classify(outcome).concern.value
    return {
        "code": outcome.error_code,
        "message": (
            f"{users} different users in a row were answered {outcome.error_code} "
            f"({outcome.error_message or 'no message'}): the {about} cannot deliver "
            "codes now"
        ),
        "at": iso(time.time()),
    }


def run_hit(store: CampaignStore, row: int) -> int:
    """Add ``row`` to the campaign's current run; returns the distinct users in it.

    A success anywhere in the campaign ends the run (RECORD deletes it).
    """
    key = store.keys.run
    pipe = store.redis.pipeline(transaction=True)
    pipe.sadd(key, row)
    pipe.expire(key, RUN_WINDOW_SECONDS)
    pipe.scard(key)
    return int(pipe.execute()[-1])


def run_rows(store: CampaignStore) -> list[int]:
    """The rows of the current run (and forget it)."""
    key = store.keys.run
    pipe = store.redis.pipeline(transaction=True)
    pipe.smembers(key)
    pipe.delete(key)
    members = pipe.execute()[0]
    return sorted(int(member) for member in members)


def pause_self(store: CampaignStore, why: dict[str, Any]) -> bool:
    """Pause an active campaign with ``pause_reason`` ``why``; False when it was not active
    (paused already - the first reason stays -, cancelled or finished)."""
    keys = store.keys
    return bool(store.run("PAUSE", [keys.meta], [json.dumps(why)]))
