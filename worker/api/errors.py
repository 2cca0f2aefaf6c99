"""The HTTP front's errors: AWS-style bodies ``{"__type": ..., "message": ...}``.

No message echoes a request's values (a token pasted anywhere must not come back).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.broker.clients import outage_cause
from worker.errors import (
    BrokerUnavailable,
    CampaignError,
    CampaignNotFoundError,
    CognitoError,
    ConfigurationError,
    InvalidRequestError,
    JobNotFoundError,
    NotAuthorizedError,
    RedisFailoverError,
    RedisFullError,
    RedisOutageError,
    TokenKeysUnavailableError,
)

__all__ = ["ApiError", "error_response", "install_error_handlers", "invalid", "shown"]

log = logging.getLogger("worker.api")  # one logger for the whole front

_UNAVAILABLE: Final[dict[type[RedisOutageError] | None, str]] = {
    None: "Redis does not answer; try again shortly",
    RedisFullError: "Redis is full (maxmemory): it refuses writes; try again once memory is freed",
    RedisFailoverError: "Redis is failing over (no primary accepts writes yet); try again shortly",
}
"""The 503 message for each cause (worker.broker.clients.outage_cause)."""


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")


class ApiError(Exception):
    """Raised by a route to answer with an AWS-style error body."""

    def __init__(
        self, status: int, kind: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers


def invalid(field: str, message: str) -> ApiError:
    """A 400 InvalidParameterException naming ``field``."""
    return ApiError(400, "InvalidParameterException", f"{shown(field)}: {message}")


def shown(name: str) -> str:
    """A parameter name fit for an error body (a token pasted as a name is not)."""
    return name if _NAME.fullmatch(name) else "(a parameter name)"


# which name fields but never carry an AccessToken (worker.validation's rule).
_ERRORS: Final[dict[type[Exception], tuple[int, str]]] = {
    NotAuthorizedError: (400, "NotAuthorizedException"),  # before its base class
    TokenKeysUnavailableError: (503, "ServiceUnavailable"),
    InvalidRequestError: (400, "InvalidParameterException"),
    JobNotFoundError: (404, "JobNotFound"),
    CampaignNotFoundError: (404, "CampaignNotFound"),
}
_HTTP_KINDS: Final = {
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    413: "RequestEntityTooLarge",
}


def error_response(
    status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"__type": kind, "message": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to an AWS-style body; none echoes a request's values."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.kind, exc.message, exc.headers)

    async def known(_: Request, exc: Exception) -> JSONResponse:
        status, kind = next(v for k, v in _ERRORS.items() if isinstance(exc, k))
        return error_response(status, kind, str(exc))

    async def campaign_refused(_: Request, exc: Exception) -> JSONResponse:
        cause = exc.__cause__
        if isinstance(cause, CognitoError) and cause.code == "ResourceNotFoundException":
            return error_response(404, "ResourceNotFoundException", str(exc))
        return error_response(400, "InvalidCampaignException", str(exc))

    async def misconfigured(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(500, "InternalFailure", f"the front is misconfigured: {exc}")

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: Redis: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(503, "ServiceUnavailable", _UNAVAILABLE[outage_cause(exc)])

    async def invalid_shape(_: Request, __: Exception) -> JSONResponse:
        return error_response(
            400, "ValidationError", "the request does not have the expected shape"
        )

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = _HTTP_KINDS.get(exc.status_code, "HttpError")
        headers = dict(exc.headers or {})
        if "Allow" in headers:  # Starlette joins a set: in no stable order
            headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
        return error_response(exc.status_code, kind, str(exc.detail), headers)

    app.add_exception_handler(ApiError, api_error)
    for exc_class in _ERRORS:
        app.add_exception_handler(exc_class, known)
    app.add_exception_handler(CampaignError, campaign_refused)
    app.add_exception_handler(ConfigurationError, misconfigured)
    app.add_exception_handler(RedisError, unavailable)
    app.add_exception_handler(BrokerUnavailable, unavailable)
    app.add_exception_handler(BrokerError, unavailable)
    app.add_exception_handler(RequestValidationError, invalid_shape)
    app.add_exception_handler(StarletteHTTPException, http_error)
