"""The HTTP front's parameters: the two actions and campaign bodies, checked by name.

Values are checked by the producer API (:mod:`worker.validation`); this module checks which
parameters were sent, and turns bodies into the producer API's arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from worker.api.errors import ApiError, invalid
from worker.errors import InvalidRequestError, NotAuthorizedError, TokenKeysUnavailableError
from worker.identity.principals import Principal
from worker.ratelimit.shares import WEIGHT_RANGE, check_weight

__all__ = [
    "ID_PATTERN",
    "action_label",
    "campaign_arguments",
    "check_parameters",
    "choose_action",
    "idempotency_key",
    "submit",
]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+")
# A literal "+" in a query string is a space (form encoding); none of these may hold one.
_PLUS_HINT: Final = (
    " (a '+' in a query string means a space: send a plus sign as %2B, or use POST /)"
)


# --- the two actions -------------------------------------------------------------------


def _submit_resend(params: Mapping[str, Any], key: str | None, principal: str) -> str:
    from tasks import submit_resend  # noqa: PLC0415 - importing tasks connects the Celery app

    return submit_resend(
        params["ClientId"],
        params["Username"],
        secret_hash=params.get("SecretHash"),
        client_metadata=params.get("ClientMetadata"),
        idempotency_key=key,
        principal=principal,
    )


def _submit_verification(params: Mapping[str, Any], key: str | None, principal: str) -> str:
    from tasks import submit_attribute_verification  # noqa: PLC0415

    return submit_attribute_verification(
        params["AccessToken"],
        params["AttributeName"],
        client_metadata=params.get("ClientMetadata"),
        idempotency_key=key,
        principal=principal,
    )


@dataclass(frozen=True)
class _Action:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    submit: Callable[[Mapping[str, Any], str | None, str], str]
    scope: str  # the API principal's scope it needs (worker.identity.principals)
    needs_seal: bool = False  # carries an AccessToken: COURIER_SEAL_KEY is needed


_ACTIONS: Final = {
    "ResendConfirmationCode": _Action(
        ("ClientId", "Username"), ("SecretHash", "ClientMetadata"), _submit_resend, "resend"
    ),
    "GetUserAttributeVerificationCode": _Action(
        ("AccessToken", "AttributeName"),
        ("ClientMetadata",),
        _submit_verification,
        "verify-attribute",
        needs_seal=True,
    ),
}
# In Cognito's model, but they describe the live request of the user's device, which a
# queued call is not: refused rather than silently dropped.
_UNSUPPORTED: Final = frozenset({"UserContextData", "AnalyticsMetadata"})


def action_label(name: object) -> str:
    return name if isinstance(name, str) and name in _ACTIONS else "Invalid"


def _no_nulls(params: Mapping[str, Any]) -> None:
    """JSON ``null`` is not a value: a parameter is given, or left out (never rewritten)."""
    for name, value in params.items():
        if value is None:
            raise invalid(name, "null is not a value: leave the parameter out instead")


def check_parameters(action_name: object, params: Mapping[str, Any]) -> _Action:
    """The action named, after checking the parameter names (values are the producer's job).

    Raises:
        ApiError: MissingAction, InvalidAction, MissingParameter or InvalidParameterException.
    """
    choices = ", ".join(_ACTIONS)
    if action_name is None or action_name == "":
        raise ApiError(400, "MissingAction", f"Action: is required; one of {choices}")
    action = _ACTIONS.get(action_name) if isinstance(action_name, str) else None
    if action is None:  # the value is not echoed: it may be anything pasted there
        raise ApiError(400, "InvalidAction", f"Action: must be one of {choices}")
    _no_nulls(params)
    for name in params:
        if name in _UNSUPPORTED:
            raise invalid(name, "not supported for queued requests")
        if name not in action.required and name not in action.optional:
            raise invalid(name, f"not a parameter of {action_name}")
    for name in action.required:
        if params.get(name) is None:
            raise ApiError(400, "MissingParameter", f"{name}: is required for {action_name}")
    return action


def choose_action(query: Mapping[str, str], body: Mapping[str, Any]) -> object:
    """The ``Action`` of a POST: the body's, the query's, or both when they agree.

    A body that names ``Action`` at all decides (an empty or non-string one is refused
    later, never replaced by the query's).

    Raises:
        ApiError: 400 InvalidParameterCombination when query and body disagree.
    """
    if "Action" not in body:
        return query.get("Action")
    if "Action" in query and query["Action"] != body["Action"]:
        raise ApiError(
            400,
            "InvalidParameterCombination",
            "Action: the query string and the body name different actions",
        )
    return body["Action"]


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The ``Idempotency-Key`` header, checked (1-255 printable ASCII), or None.

    Raises:
        ApiError: 400 InvalidParameterException naming IdempotencyKey.
    """
    from worker.dedupe import check_idempotency_key  # noqa: PLC0415

    value = headers.get("idempotency-key")
    if value is None:
        return None
    try:
        return check_idempotency_key(value)
    except InvalidRequestError as exc:
        raise ApiError(400, "InvalidParameterException", str(exc)) from None


async def submit(
    action: _Action,
    params: Mapping[str, Any],
    *,
    principal: Principal,
    key: str | None = None,
    plus_in: Collection[str] = (),
) -> JSONResponse:
    """Queue the job (or find the one ``key`` or an identical request already made); 202
    with its status document and ``Location``.

    ``principal`` is the caller (recorded on the job; its idempotency keys are its own).
    ``key`` is the checked ``Idempotency-Key`` (:func:`idempotency_key`). ``plus_in`` names
    the query parameters whose raw value held a ``+``: when one of them is refused, the
    message says how to send a plus sign.

    Raises:
        ApiError: 400 InvalidParameterException naming the field a value breaks; 422
            IdempotentParameterMismatchException when ``key`` was used for another
            request within the idempotency window; 400 NotAuthorizedException for an
            AccessToken that fails verification; 503 ServiceUnavailable (Retry-After)
            when its pool's keys cannot be fetched.
    """
    from tasks import job_status  # noqa: PLC0415

    try:
        job_id = await run_in_threadpool(action.submit, params, key, principal.name)
    except NotAuthorizedError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    except TokenKeysUnavailableError as exc:
        raise ApiError(503, "ServiceUnavailable", str(exc), headers={"Retry-After": "5"}) from None
    except InvalidRequestError as exc:
        if key is not None and exc.field == "IdempotencyKey":  # the key itself was checked
            raise ApiError(
                422,
                "IdempotentParameterMismatchException",
                "Idempotency-Key: already used for a different request; use a new key "
                "for a new request",
            ) from None
        hint = _PLUS_HINT if exc.field in plus_in else ""
        raise ApiError(400, "InvalidParameterException", f"{exc}{hint}") from None
    document = await run_in_threadpool(job_status, job_id)
    return JSONResponse(document, status_code=202, headers={"Location": f"/jobs/{job_id}"})


# --- campaigns -------------------------------------------------------------------------

_CAMPAIGN_FIELDS: Final = frozenset(
    {"ClientId", "Usernames", "UserPoolId", "Filter", "Name", "DryRun", "OnUserCap"}
    | {"ClientMetadata", "Weight"}
)


def _campaign_source(given: Mapping[str, Any]) -> dict[str, Any]:
    """Inline ``Usernames`` (sent on as JSON Lines, so a reject's ``line`` is the position
    from 1) or ``UserPoolId`` with an optional ``Filter``. Never a path on this server."""
    if ("Usernames" in given) == ("UserPoolId" in given):
        raise ApiError(
            400, "InvalidParameterCombination", "give exactly one of Usernames and UserPoolId"
        )
    usernames = given.get("Usernames")
    if usernames is not None:
        if "Filter" in given:
            raise ApiError(400, "InvalidParameterCombination", "Filter: only with UserPoolId")
        if not isinstance(usernames, list) or not all(isinstance(u, str) for u in usernames):
            raise invalid("Usernames", "must be a list of strings")
        lines = "".join(json.dumps({"username": u}) + "\n" for u in usernames)
        return {"data": lines.encode("utf-8"), "file_format": "jsonl"}
    pool_id = given["UserPoolId"]
    if not isinstance(pool_id, str) or len(pool_id) > 55 or not _POOL_ID.fullmatch(pool_id):
        raise invalid("UserPoolId", "must match [\\w-]+_[0-9a-zA-Z]+, at most 55 characters")
    source: dict[str, Any] = {"user_pool_id": pool_id}
    if "Filter" in given:
        if not isinstance(given["Filter"], str) or len(given["Filter"]) > 256:
            raise invalid("Filter", "must be a string of at most 256 characters")
        source["filter_expression"] = given["Filter"]
    return source


def campaign_arguments(body: Mapping[str, Any]) -> dict[str, Any]:
    """``tasks.campaigns.start_campaign`` keyword arguments from a POST /campaigns body.

    Raises:
        ApiError: MissingParameter, InvalidParameterCombination or InvalidParameterException.
    """
    for name in body:
        if name not in _CAMPAIGN_FIELDS:
            raise invalid(name, "not a campaign field")
    _no_nulls(body)
    given = dict(body)
    if "ClientId" not in given:
        raise ApiError(400, "MissingParameter", "ClientId: is required for a campaign")
    title = given.get("Name")
    if title is not None and not (isinstance(title, str) and 1 <= len(title) <= 128):
        raise invalid("Name", "must be a string of 1-128 characters")
    if not isinstance(given.get("DryRun", False), bool):
        raise invalid("DryRun", "must be true or false")
    if given.get("OnUserCap", "defer") not in ("defer", "skip"):
        raise invalid("OnUserCap", "must be defer or skip")
    weight = given.get("Weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise invalid("Weight", f"must be a number {WEIGHT_RANGE}")
    try:
        weight = check_weight(weight)
    except ValueError as exc:
        raise invalid("Weight", str(exc)) from None
    return {
        "client_id": given["ClientId"],
        **_campaign_source(given),
        "name": title,
        "dry_run": given.get("DryRun", False),
        "on_user_cap": given.get("OnUserCap", "defer"),
        "client_metadata": given.get("ClientMetadata"),
        "weight": weight,
    }
