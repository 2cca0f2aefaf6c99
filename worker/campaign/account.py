"""Answers about the account, not the user: the campaign pauses instead of failing rows.

Cognito answers some calls for the whole account or pool, and every later row would meet
the same answer; failing them all would burn the campaign (and one of each user's five
hourly sends) in a second. Recognised:

* the default e-mail sender's daily quota: ``LimitExceededException`` "Exceeded daily
  email limit for the operation or the account. ..." (50 e-mails a day per account with
  ``COGNITO_DEFAULT``; public: aws-amplify/amplify-cli#7412, cds-snc/platform-forms-client
  #1104);
* SMS spending or delivery limits where the message names them (``spend limit``,
  ``spending limit``, ``SMS sandbox``): AWS documents no exact wording for these, so only
  such words are matched, and the run below catches the rest;
* a **run**: :data:`RUN_DISTINCT_USERS` distinct users in a row (no success between, any
  worker) answered ``LimitExceededException`` (other than the per-user cap) or
  ``CodeDeliveryFailureException``, within :data:`RUN_WINDOW_SECONDS` of each other.

The rows that met the condition go back to be sent later (their guard slots released),
the campaign pauses itself with ``pause_reason`` ``{"code", "message", "at"}``, and
``courier campaign resume`` continues once the operator has fixed it.

Cognito's per-user answer ``LimitExceededException`` "Attempt limit exceeded, please try
after some time." (public: aws-amplify/amplify-js#8013) is no account condition: that row
is deferred like a row the per-user guard deferred, and the guard learns the calls it did
not see (:meth:`worker.guard.UserGuard.saturate`).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from worker.campaign.store import CampaignStore, iso
from worker.delivery import Outcome

__all__ = [
    "RUN_DISTINCT_USERS",
    "RUN_WINDOW_SECONDS",
    "classify",
    "pause_self",
    "run_hit",
    "run_reason",
    "run_rows",
]

RUN_DISTINCT_USERS = 10
"""Distinct users in a row answering LimitExceeded/CodeDeliveryFailure that pause a campaign."""
RUN_WINDOW_SECONDS = 60
"""A run is forgotten when no such answer came for this long."""

_LIMIT = "LimitExceededException"
_DELIVERY = "CodeDeliveryFailureException"
_USER_CAP = re.compile(r"attempt limit exceeded", re.IGNORECASE)
_ACCOUNT = re.compile(
    r"daily email limit|spend(?:ing)? limit|sms sandbox|sandbox.*\bsms\b", re.IGNORECASE
)

Kind = Literal["account", "user_cap", "run"]


def classify(outcome: Outcome) -> Kind | None:
    """What a failed row's answer says: about the account, the user's hour, a possible
    run (LimitExceeded/CodeDeliveryFailure otherwise), or nothing (None)."""
    if outcome.error_code not in (_LIMIT, _DELIVERY):
        return None
    message = outcome.error_message or ""
    if outcome.error_code == _LIMIT and _USER_CAP.search(message):
        return "user_cap"
    if _ACCOUNT.search(message):
        return "account"
    return "run"


def reason(outcome: Outcome) -> dict[str, Any]:
    """The ``pause_reason`` for an account answer: Cognito's code and message, and when."""
    return {
        "code": outcome.error_code,
        "message": outcome.error_message or "",
        "at": iso(time.time()),
    }


def run_reason(outcome: Outcome, users: int) -> dict[str, Any]:
    """The ``pause_reason`` for a run of ``users`` distinct users."""
    return {
        "code": outcome.error_code,
        "message": (
            f"{users} different users in a row were answered {outcome.error_code} "
            f"({outcome.error_message or 'no message'}): the account or the pool cannot "
            "deliver codes now"
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
