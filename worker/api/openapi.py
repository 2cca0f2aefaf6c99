"""The front's published contract: the OpenAPI 3.1 document served at ``/openapi.json``.

Written by hand, not derived from the routes: the routes read raw input (strict decoding,
:mod:`worker.api.decode`), so FastAPI's generated schema would describe nothing. A test
checks that every served route is in this document and every operation here is served,
and schemathesis checks every answer against it.

The seed (``shared/seed/000_ffb6cb0eb5b29a3c.txt``, Swagger 2.0) put its two GET
operations at ``/?Action=...``. A path cannot hold a query, and two GET operations cannot
share ``/``, so ``GET /`` takes its query string as one form-exploded object that is one
of two shapes (``oneOf``), each with its ``Action`` and Cognito's required members.
Constraints are botocore's cognito-idp 2016-04-18 model (lengths, patterns, required
members); the AccessToken length cap is the project's
(:data:`worker.validation.ACCESS_TOKEN_MAX_LENGTH`).
"""

from __future__ import annotations

from typing import Any, Final

from worker.api.decode import MAX_BODY_BYTES, MAX_DEPTH
from worker.ratelimit.shares import MAX_CAMPAIGN_WEIGHT, MIN_CAMPAIGN_WEIGHT
from worker.validation import ACCESS_TOKEN_MAX_LENGTH

__all__ = ["openapi_document"]

_PRINTABLE = r"\p{L}\p{M}\p{S}\p{N}\p{P}"
_STRINGS: Final[dict[str, dict[str, Any]]] = {
    "ClientId": {
        "type": "string",
        "minLength": 1,
        "maxLength": 128,
        "pattern": r"^[\w+]+$",
        "description": "The app client's id (Cognito: 1-128 characters of [\\w+]).",
    },
    "Username": {
        "type": "string",
        "minLength": 1,
        "maxLength": 128,
        "pattern": f"^[{_PRINTABLE}]+$",
        "description": (
            "The user's name (Cognito: 1-128 letters, marks, symbols, numbers or "
            "punctuation). In a query string send a plus sign as %2B: '+' means a space."
        ),
    },
    "SecretHash": {
        "type": "string",
        "minLength": 1,
        "maxLength": 128,
        "pattern": r"^[\w+=/]+$",
        "description": (
            "Base64(HMAC_SHA256(client secret, Username + ClientId)). Optional: without it "
            "workers compute it from COURIER_CLIENT_SECRETS. In a query string send '+' as %2B."
        ),
    },
    "AccessToken": {
        "type": "string",
        "minLength": 1,
        "maxLength": ACCESS_TOKEN_MAX_LENGTH,
        "pattern": r"^[A-Za-z0-9\-_=.]+$",
        "description": (
            "The user's access token (a JWT). Cognito's model sets no length; this front "
            f"takes at most {ACCESS_TOKEN_MAX_LENGTH} characters. Prefer POST / for it."
        ),
    },
    "AttributeName": {
        "type": "string",
        "minLength": 1,
        "maxLength": 32,
        "pattern": f"^[{_PRINTABLE}\\t\\n\\r ]+$",
        "description": "The attribute to verify, e.g. email or phone_number (1-32 characters).",
    },
}
_CLIENT_METADATA: Final = {
    "type": "object",
    "additionalProperties": {"type": "string", "maxLength": 131072},
    "propertyNames": {"maxLength": 131072},
    "description": "Passed to the pool's Lambda triggers (keys and values at most 131,072).",
}
_ACTIONS: Final = {
    "ResendConfirmationCode": (("ClientId", "Username"), ("SecretHash",)),
    "GetUserAttributeVerificationCode": (("AccessToken", "AttributeName"), ()),
}
_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref("Error")}}}


_ERRORS: Final = {
    "400": _error(
        "Invalid input (AWS-style body; __type says which rule): MissingAction, "
        "InvalidAction, MissingParameter, InvalidParameterException, "
        "InvalidParameterCombination, SerializationException, UnsupportedOperation."
    ),
    "401": {
        **_error("No bearer token (MissingAuthenticationToken) or an unknown one."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "503": _error(
        "Redis does not answer, is failing over or is full (ServiceUnavailable; the message "
        "names which); try again shortly."
    ),
}
_IDEMPOTENCY: Final = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "1-255 printable ASCII characters. The same key within 24 h "
    "(COURIER_IDEMPOTENCY_TTL_SECONDS) answers the job it first made; with other "
    "parameters it answers 422. Stored hashed.",
    "schema": {"type": "string", "pattern": "^[ -~]{1,255}$"},
}
_REUSED: Final = {
    "422": _error(
        "The Idempotency-Key was used for a different request "
        "(IdempotentParameterMismatchException)."
    )
}
_BODY_ERRORS: Final = {
    "408": _error("The body did not arrive within COURIER_API_BODY_TIMEOUT_SECONDS."),
    "413": _error(f"The body is over {MAX_BODY_BYTES} bytes (RequestEntityTooLarge)."),
}


def _accepted(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "Location": {
                "description": "Where to poll the job: /jobs/{id}.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
        "content": {_JSON: {"schema": _ref("Job")}},
        "links": {
            "GetJob": {
                "operationId": "getJob",
                "parameters": {"job_id": "$response.body#/id"},
            }
        },
    }


def _query_shape(action: str) -> dict[str, Any]:
    required, optional = _ACTIONS[action]
    properties: dict[str, Any] = {"Action": {"type": "string", "const": action}}
    properties |= {name: _STRINGS[name] for name in (*required, *optional)}
    return {
        "title": action,
        "type": "object",
        "required": ["Action", *required],
        "properties": properties,
        "additionalProperties": False,
    }


def _get_operation() -> dict[str, Any]:
    """The seed's two GET operations, as one operation on ``GET /``: the query string is one
    form-exploded object (``?Action=..&ClientId=..``), one of two shapes, each with
    Cognito's required members. (Two GET operations cannot share a path in OpenAPI, and a
    path cannot hold a query as the seed's ``/?Action=...`` keys did.)"""
    return {
        "operationId": "getAction",
        "summary": "Queue a ResendConfirmationCode or GetUserAttributeVerificationCode call "
        "(the seed's GET operations resendConfirmationCode and "
        "getUserAttributeVerificationCode)",
        "tags": ["Jobs"],
        "parameters": [
            {
                "in": "query",
                "name": "parameters",
                "required": True,
                "style": "form",
                "explode": True,
                "description": "Action and its parameters, each its own query parameter. "
                "Prefer POST / for an AccessToken: query strings end up in logs.",
                "schema": {"oneOf": [_query_shape(action) for action in _ACTIONS]},
            },
            _IDEMPOTENCY,
        ],
        "responses": {
            "202": _accepted("Queued (or the job this key or an identical request made)."),
            **_ERRORS,
            **_REUSED,
        },
    }


def _action_body(action: str) -> dict[str, Any]:
    required, optional = _ACTIONS[action]
    properties: dict[str, Any] = {"Action": {"type": "string", "const": action}}
    properties |= {name: _STRINGS[name] for name in (*required, *optional)}
    properties["ClientMetadata"] = _CLIENT_METADATA
    return {
        "type": "object",
        "required": ["Action", *required],
        "properties": properties,
        "additionalProperties": False,
    }


def _schemas() -> dict[str, Any]:
    stamp = {"type": "string", "description": "ISO 8601, UTC, milliseconds."}
    return {
        "Error": {
            "type": "object",
            "required": ["__type", "message"],
            "properties": {"__type": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": False,
        },
        "Job": {
            "type": "object",
            "description": "The job status document (DESIGN.md).",
            "required": [
                "id",
                "operation",
                "state",
                "attempts",
                "delivery",
                "error",
                "campaign_id",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "id": {"type": "string"},
                "operation": {"enum": list(_ACTIONS)},
                "state": {
                    "enum": [
                        "queued",
                        "running",
                        "retrying",
                        "succeeded",
                        "failed",
                        "skipped",
                        "cancelled",
                    ]
                },
                "attempts": {"type": "integer", "minimum": 0},
                "ambiguous": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Of the attempts, calls whose answer never came.",
                },
                "redeliveries": {"type": "integer", "minimum": 0},
                "delivery": {
                    "type": ["object", "null"],
                    "description": "CodeDeliveryDetails as Cognito returned them.",
                },
                "error": {
                    "type": ["object", "null"],
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
                "campaign_id": {"type": ["string", "null"]},
                "principal": {
                    "type": ["string", "null"],
                    "description": "The API principal (its name) that asked for the job; "
                    "null for the Python API and the CLI.",
                },
                "created_at": stamp,
                "updated_at": stamp,
            },
        },
        "ActionRequest": {
            "description": f"At most {MAX_DEPTH} levels of nesting; no key twice.",
            "oneOf": [_action_body(action) for action in _ACTIONS],
        },
        "CampaignRequest": {
            "type": "object",
            "required": ["ClientId"],
            "properties": {
                "ClientId": _STRINGS["ClientId"],
                "Usernames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Usernames to send to; unusable ones are listed in "
                    "rejects, but at least one must be usable (a campaign with nothing to "
                    "send is refused).",
                    "contains": _STRINGS["Username"],
                },
                "UserPoolId": {
                    "type": "string",
                    "maxLength": 55,
                    "pattern": r"^[\w-]+_[0-9a-zA-Z]+$",
                },
                "Filter": {"type": "string", "maxLength": 256},
                "Name": {"type": "string", "minLength": 1, "maxLength": 128},
                "DryRun": {"type": "boolean"},
                "OnUserCap": {"enum": ["defer", "skip"]},
                "Weight": {
                    "type": "number",
                    "minimum": MIN_CAMPAIGN_WEIGHT,
                    "maximum": MAX_CAMPAIGN_WEIGHT,
                    "default": 1,
                    "description": "Its part of the bulk share beside the other running "
                    "campaigns, which split it in proportion to their weights.",
                },
                "ClientMetadata": _CLIENT_METADATA,
            },
            "additionalProperties": False,
            "oneOf": [
                {"required": ["Usernames"], "not": {"anyOf": [{"required": ["UserPoolId"]}]}},
                {"required": ["UserPoolId"], "not": {"anyOf": [{"required": ["Usernames"]}]}},
            ],
            "dependentSchemas": {"Filter": {"required": ["UserPoolId"]}},
        },
        "Campaign": {
            "type": "object",
            "description": "The campaign status document (DESIGN.md).",
            "required": ["id", "name", "state", "total", "counts", "created_at", "updated_at"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "state": {"enum": ["ingesting", "running", "paused", "cancelled", "done", "lost"]},
                "lost_reason": {
                    "type": "string",
                    "description": "With state lost only: which of its keys Redis lost.",
                },
                "total": {"type": "integer", "minimum": 0},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                "weight": {"type": "number"},
                "share": {
                    "type": "object",
                    "description": "Its current part of the bulk share: fraction and calls/s, "
                    "null while it takes no permits.",
                    "properties": {
                        "fraction": {"type": ["number", "null"]},
                        "rate_per_second": {"type": ["number", "null"]},
                    },
                },
                "created_at": {**stamp, "type": ["string", "null"]},
                "updated_at": {**stamp, "type": ["string", "null"]},
            },
        },
        "CampaignStart": {
            "type": "object",
            "description": "The start document: a campaign status document (id null for a "
            "dry run) plus rejects, duplicates and warnings.",
            "required": ["id", "rejects", "duplicates", "warnings"],
            "properties": {
                "id": {"type": ["string", "null"]},
                "rejects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["line", "reason"],
                        "properties": {
                            "line": {"type": "integer"},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "duplicates": {"type": "integer", "minimum": 0},
                "warnings": {"type": "array", "items": {"type": "string"}},
            },
        },
    }


def _id_parameter(name: str) -> dict[str, Any]:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    }


def _paths() -> dict[str, Any]:
    public: list[dict[str, Any]] = []
    text = {"text/plain": {"schema": {"type": "string"}}}
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/": {
            "get": _get_operation(),
            "post": {
                "operationId": "postAction",
                "summary": "Queue either call, parameters in a JSON body (the safe way to "
                "send an AccessToken)",
                "tags": ["Jobs"],
                "parameters": [_IDEMPOTENCY],
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("ActionRequest")}},
                },
                "responses": {
                    "202": _accepted("Queued (or the job this key or an identical request made)."),
                    **_ERRORS,
                    **_REUSED,
                    **_BODY_ERRORS,
                },
            },
        },
        "/jobs/{job_id}": {
            "get": {
                "operationId": "getJob",
                "summary": "A job's status document",
                "tags": ["Jobs"],
                "parameters": [_id_parameter("job_id")],
                "responses": {
                    "200": {
                        "description": "The job status document.",
                        "content": {_JSON: {"schema": _ref("Job")}},
                    },
                    "404": _error("No such job (JobNotFound): never submitted, or expired."),
                    **_ERRORS,
                },
            }
        },
        "/campaigns": {
            "post": {
                "operationId": "startCampaign",
                "summary": "Start a bulk campaign (or count one: DryRun)",
                "tags": ["Campaigns"],
                "requestBody": {
                    "required": True,
                    "content": {_JSON: {"schema": _ref("CampaignRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "A dry run: counted, nothing stored or sent.",
                        "content": {_JSON: {"schema": _ref("CampaignStart")}},
                    },
                    "202": {
                        "description": "Started: the start document.",
                        "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
                        "content": {_JSON: {"schema": _ref("CampaignStart")}},
                    },
                    "404": _error(
                        "The user pool to list does not exist (ResourceNotFoundException)."
                    ),
                    **_ERRORS,
                    **_BODY_ERRORS,
                },
            }
        },
        "/campaigns/{campaign_id}": {
            "get": {
                "operationId": "getCampaign",
                "summary": "A campaign's status document",
                "tags": ["Campaigns"],
                "parameters": [_id_parameter("campaign_id")],
                "responses": {
                    "200": {
                        "description": "The campaign status document (state lost, "
                        "with lost_reason, when Redis lost its keys; created_at and "
                        "updated_at are null only then, when no trace of them is left).",
                        "content": {_JSON: {"schema": _ref("Campaign")}},
                    },
                    "404": _error("No such campaign (CampaignNotFound)."),
                    **_ERRORS,
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Readiness: Redis answers, and what the front is configured to serve",
                "tags": ["Operations"],
                "security": public,
                "responses": {
                    "200": {
                        "description": "Ready.",
                        "content": {_JSON: {"schema": _ref("Health")}},
                    },
                    "503": {
                        "description": (
                            "Not ready: Redis does not answer or does not accept writes "
                            "(a replica, a full Redis)."
                        ),
                        "content": {_JSON: {"schema": _ref("Health")}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus text exposition",
                "tags": ["Operations"],
                "security": public,
                "responses": {"200": {"description": "Metrics.", "content": text}},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["Operations"],
                "security": public,
                "responses": {
                    "200": {"description": "OpenAPI 3.1.", "content": {_JSON: {"schema": {}}}}
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "swaggerUi",
                "summary": "Swagger UI for this document",
                "tags": ["Operations"],
                "security": public,
                "responses": {"200": {"description": "HTML.", "content": html}},
            }
        },
        "/redoc": {
            "get": {
                "operationId": "redoc",
                "summary": "ReDoc for this document",
                "tags": ["Operations"],
                "security": public,
                "responses": {"200": {"description": "HTML.", "content": html}},
            }
        },
    }


def _health_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status", "redis", "token_operations", "missing"],
        "properties": {
            "status": {"enum": ["ok", "unavailable"]},
            "redis": {"enum": ["ok", "unreachable", "not accepting writes"]},
            "reason": {
                "type": "string",
                "description": "Why Redis does not accept writes: a failover (READONLY, "
                "UNBLOCKED, MASTERDOWN) or a full Redis (maxmemory).",
            },
            "token_operations": {
                "type": "boolean",
                "description": "AccessTokens and SecretHashes are accepted (needs "
                "COURIER_SEAL_KEY).",
            },
            "missing": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What the front lacks, e.g. COURIER_SEAL_KEY.",
            },
        },
        "additionalProperties": False,
    }


def openapi_document(*, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the front (a fresh dict; the caller may serialize it)."""
    schemas = _schemas()
    schemas["Health"] = _health_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cognito-courier HTTP front",
            "version": version,
            "description": (
                "The seed's Amazon Cognito surface (ResendConfirmationCode, "
                "GetUserAttributeVerificationCode), served asynchronously: requests are "
                "checked, queued and answered 202 with a job status document to poll. "
                "Errors are AWS-style {__type, message}. See docs/api.md."
            ),
        },
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of COURIER_API_TOKENS.",
                }
            },
        },
        "security": [{"bearer": []}],
    }
