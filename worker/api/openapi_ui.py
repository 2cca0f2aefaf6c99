"""The OpenAPI parts of the operators' pages' JSON routes (:mod:`worker.api.ui`).

:func:`add_ui_operations` adds ``GET /ui/campaigns/{campaign_id}/live`` (the figures the
campaign page polls) and ``POST /ui/campaigns/{campaign_id}/{control}`` (pause, resume,
cancel), the ``CampaignLive`` schema and the ``session`` cookie scheme to the document of
:func:`worker.api.openapi.openapi_document`. The HTML pages themselves are not operations
of the document (docs/api.md lists them).
"""

from __future__ import annotations

import copy
from typing import Any, Final

from worker.api.docs import ASSETS
from worker.api.session import COOKIE, CSRF_HEADER

__all__ = ["add_ui_operations"]

_JSON: Final = "application/json"
_CAMPAIGN: Final = {"$ref": "#/components/schemas/Campaign"}
_SECURITY: Final[list[dict[str, list[str]]]] = [{"bearer": []}, {"session": []}]
_ID: Final = {
    "in": "path",
    "name": "campaign_id",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_COMMON: Final = {
    "400": _error("A malformed campaign id (InvalidParameterException)."),
    "401": _error("Neither a valid bearer token nor a live session (log in at /ui/login)."),
    "404": _error("No such campaign, or another principal's (CampaignNotFound)."),
    "503": _error("Redis does not answer, is failing over or is full (ServiceUnavailable)."),
}

_LIVE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["campaign", "rate_series", "errors", "rejects"],
    "properties": {
        "rate_series": {
            "type": "array",
            "description": (
                "Calls recorded in each of the last 30 whole seconds, oldest first "
                "(at: epoch seconds, Redis's clock; 0 for a quiet second)."
            ),
            "items": {
                "type": "object",
                "required": ["at", "calls"],
                "properties": {
                    "at": {"type": "integer"},
                    "calls": {"type": "integer", "minimum": 0},
                },
            },
        },
        "errors": {
            "type": "array",
            "description": (
                "Rows by final state and Cognito (or project) error code, most first; "
                "tallied from the rows at most every 5 s."
            ),
            "items": {
                "type": "object",
                "required": ["state", "code", "count"],
                "properties": {
                    "state": {"type": "string"},
                    "code": {"type": "string"},
                    "count": {"type": "integer", "minimum": 1},
                },
            },
        },
        "rejects": {
            "type": "array",
            "description": "The first 1,000 rejected input rows, lines numbered from 1.",
            "items": {
                "type": "object",
                "required": ["line", "reason"],
                "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}},
            },
        },
    },
}


_HTML: Final = {"text/html": {"schema": {"type": "string"}}}
_TAGS: Final = ["Operators' pages"]
_TO_LOGIN: Final = {
    "description": "Neither a bearer token nor a live session: to the login form.",
    "headers": {"Location": {"schema": {"const": "/ui/login"}}},
}


def _page(operation_id: str, summary: str, parameters: list[Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "HTML.", "content": _HTML},
        "303": _TO_LOGIN,
        "401": _error("A bearer token this front does not accept."),
    }
    if parameters:
        responses |= {"400": _COMMON["400"], "404": _COMMON["404"]}
    responses["503"] = _COMMON["503"]
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": _TAGS,
            "security": _SECURITY,
            "parameters": parameters,
            "responses": responses,
        }
    }


def _to_campaigns() -> dict[str, Any]:
    redirect = {
        "308": {
            "description": "To the campaigns page.",
            "headers": {"Location": {"schema": {"const": "/ui/"}}},
        }
    }
    return {
        method: {
            "operationId": f"uiRedirect{method.title()}",
            "summary": "/ui without its slash: to /ui/",
            "tags": _TAGS,
            "security": [],
            "responses": redirect,
        }
        for method in ("get", "head")
    }


def _asset(operation_id: str, summary: str, names: dict[str, str]) -> dict[str, Any]:
    content = {media: {"schema": {"type": "string"}} for media in sorted(set(names.values()))}
    name = {"in": "path", "name": "name", "required": True, "schema": {"enum": sorted(names)}}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": _TAGS,
            "security": [],
            "parameters": [name],
            "responses": {
                "200": {"description": "The file.", "content": content},
                "404": _error("No such file (NotFound)."),
            },
        }
    }


def _login() -> dict[str, Any]:
    form = {
        "type": "object",
        "required": ["token"],
        "properties": {"token": {"type": "string", "description": "An API bearer token."}},
    }
    return {
        "get": {
            "operationId": "uiLoginForm",
            "summary": "The login form of the operators' pages",
            "tags": _TAGS,
            "security": [],
            "responses": {"200": {"description": "HTML.", "content": _HTML}},
        },
        "post": {
            "operationId": "uiLogin",
            "summary": "Log in: a bearer token in, the session cookie out",
            "tags": _TAGS,
            "security": [],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": form}},
            },
            "responses": {
                "303": {
                    "description": "Logged in: to /ui/, with the session cookie.",
                    "headers": {
                        "Location": {"schema": {"const": "/ui/"}},
                        "Set-Cookie": {"schema": {"type": "string"}},
                    },
                },
                "400": _error("The form is not URL-encoded UTF-8."),
                "401": {"description": "Not a token this front accepts.", "content": _HTML},
                "403": _error("InvalidOrigin: sent from another site (Sec-Fetch-Site or Origin)."),
                "408": _error("The form did not arrive in time."),
                "413": _error("The form is larger than 4 KiB."),
                "415": _error("Not an application/x-www-form-urlencoded body."),
            },
        },
    }


def add_ui_operations(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the UI's operations, schema and cookie scheme added."""
    paths = document["paths"]
    paths["/ui"] = _to_campaigns()
    paths["/ui/"] = _page("uiCampaigns", "The campaigns the principal may read (HTML)", [])
    paths["/ui/campaigns/{campaign_id}"] = _page("uiCampaign", "One campaign, live (HTML)", [_ID])
    paths["/ui/login"] = _login()
    paths["/ui/logout"] = {
        "post": {
            "operationId": "uiLogout",
            "summary": "End the session",
            "tags": _TAGS,
            "security": _SECURITY,
            "responses": {
                "303": {
                    "description": "Logged out: to the login form.",
                    "headers": {"Location": {"schema": {"const": "/ui/login"}}},
                },
                "401": _COMMON["401"],
                "403": _error("A session's POST without its CSRF token (InvalidCsrfToken)."),
            },
        }
    }
    paths["/ui/static/{name}"] = _asset(
        "uiAsset",
        "The pages' script and style sheet",
        {"ui.js": "text/javascript", "ui.css": "text/css"},
    )
    paths["/docs/static/{name}"] = _asset("docsAsset", "Swagger UI's and ReDoc's assets", ASSETS)
    schemas = document["components"]["schemas"]
    live = copy.deepcopy(_LIVE)  # the Campaign schema inlined: each schema stands alone
    live["properties"]["campaign"] = copy.deepcopy(schemas["Campaign"])
    schemas["CampaignLive"] = live
    document["components"]["securitySchemes"]["session"] = {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "The operators' pages' session (POST /ui/login with a bearer token).",
    }
    document["paths"]["/ui/campaigns/{campaign_id}/live"] = {
        "get": {
            "operationId": "getCampaignLive",
            "summary": "What the campaign page polls: status, rate series, outcomes, rejects",
            "tags": ["Operators' pages"],
            "security": _SECURITY,
            "parameters": [_ID],
            "responses": {
                "200": {
                    "description": "The campaign's live figures.",
                    "content": {_JSON: {"schema": {"$ref": "#/components/schemas/CampaignLive"}}},
                },
                **_COMMON,
            },
        }
    }
    control = {
        "in": "path",
        "name": "control",
        "required": True,
        "schema": {"type": "string", "enum": ["pause", "resume", "cancel"]},
    }
    csrf = {
        "in": "header",
        "name": CSRF_HEADER,
        "required": False,
        "description": "The page's CSRF token; required with the session cookie.",
        "schema": {"type": "string"},
    }
    document["paths"]["/ui/campaigns/{campaign_id}/{control}"] = {
        "post": {
            "operationId": "controlCampaign",
            "summary": "Pause, resume or cancel a campaign (scope campaigns)",
            "tags": ["Operators' pages"],
            "security": _SECURITY,
            "parameters": [_ID, control, csrf],
            "responses": {
                "200": {
                    "description": "The campaign status document after the control.",
                    "content": {_JSON: {"schema": _CAMPAIGN}},
                },
                "403": _error(
                    "The principal lacks the campaigns scope (AccessDeniedException), or "
                    "a session's POST without its CSRF token (InvalidCsrfToken)."
                ),
                "409": _error("The control means nothing in the campaign's state now."),
                **_COMMON,
            },
        }
    }
    return document
