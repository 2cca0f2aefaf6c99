"""The HTTP front's parameters: the two actions and campaign bodies, checked by name.

Values are checked by the producer API (:mod:`worker.validation`); this module checks which
parameters were sent, and turns bodies into the producer API's arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from worker.api.errors import ApiError, invalid

__all__ = [
    "ID_PATTERN",
    "action_label",
    "campaign_arguments",
    "check_parameters",
    "json_object",
    "query_parameters",
    "submit",
]

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+")
_MAX_BODY_BYTES: Final = 16 * 1024 * 1024  # a campaign of ~500,000 inline usernames


# --- the two actions -------------------------------------------------------------------


def _submit_resend(params: Mapping[str, Any]) -> str:
    from tasks import submit_resend  # noqa: PLC0415 - importing tasks connects the Celery app

    return submit_resend(
        params["ClientId"],
        params["Username"],
        secret_hash=params.get("SecretHash"),
        client_metadata=params.get("ClientMetadata"),
    )


def _submit_verification(params: Mapping[str, Any]) -> str:
    from tasks import submit_attribute_verification  # noqa: PLC0415

    return submit_attribute_verification(
        params["AccessToken"], params["AttributeName"], client_metadata=params.get("ClientMetadata")
    )


@dataclass(frozen=True)
class _Action:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    submit: Callable[[Mapping[str, Any]], str]


_ACTIONS: Final = {
    "ResendConfirmationCode": _Action(
        ("ClientId", "Username"), ("SecretHash", "ClientMetadata"), _submit_resend
    ),
    "GetUserAttributeVerificationCode": _Action(
        ("AccessToken", "AttributeName"), ("ClientMetadata",), _submit_verification
    ),
}
# In Cognito's model, but they describe the live request of the user's device, which a
# queued call is not: refused rather than silently dropped.
_UNSUPPORTED: Final = frozenset({"UserContextData", "AnalyticsMetadata"})


def action_label(name: object) -> str:
    return name if isinstance(name, str) and name in _ACTIONS else "Invalid"


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
    for name in params:
        if name in _UNSUPPORTED:
            raise invalid(name, "not supported for queued requests")
        if name not in action.required and name not in action.optional:
            raise invalid(name, f"not a parameter of {action_name}")
    for name in action.required:
        if params.get(name) is None:
            raise ApiError(400, "MissingParameter", f"{name}: is required for {action_name}")
    return action


def query_parameters(request: Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params:
            raise invalid(name, "given more than once")
        params[name] = value
    if "ClientMetadata" in params:
        raise invalid("ClientMetadata", "send it as a JSON object in the body of POST /")
    return params


async def json_object(request: Request) -> dict[str, Any]:
    too_large = ApiError(413, "RequestEntityTooLarge", f"the body is over {_MAX_BODY_BYTES} bytes")
    if int(request.headers.get("content-length") or 0) > _MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY_BYTES:
            raise too_large
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "SerializationException", "the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise ApiError(400, "SerializationException", "the body must be a JSON object")
    return document


async def submit(action: _Action, params: Mapping[str, Any]) -> JSONResponse:
    from tasks import job_status  # noqa: PLC0415

    job_id = await run_in_threadpool(action.submit, params)
    document = await run_in_threadpool(job_status, job_id)
    return JSONResponse(document, status_code=202, headers={"Location": f"/jobs/{job_id}"})


# --- campaigns -------------------------------------------------------------------------

_CAMPAIGN_FIELDS: Final = frozenset(
    {"ClientId", "Usernames", "UserPoolId", "Filter", "Name", "DryRun", "OnUserCap"}
    | {"ClientMetadata"}
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
    given = {name: value for name, value in body.items() if value is not None}
    if "ClientId" not in given:
        raise ApiError(400, "MissingParameter", "ClientId: is required for a campaign")
    title = given.get("Name")
    if title is not None and not (isinstance(title, str) and 1 <= len(title) <= 128):
        raise invalid("Name", "must be a string of 1-128 characters")
    if not isinstance(given.get("DryRun", False), bool):
        raise invalid("DryRun", "must be true or false")
    if given.get("OnUserCap", "defer") not in ("defer", "skip"):
        raise invalid("OnUserCap", "must be defer or skip")
    return {
        "client_id": given["ClientId"],
        **_campaign_source(given),
        "name": title,
        "dry_run": given.get("DryRun", False),
        "on_user_cap": given.get("OnUserCap", "defer"),
        "client_metadata": given.get("ClientMetadata"),
    }
