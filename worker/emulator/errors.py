"""Errors the emulator answers with, shaped as Cognito shapes them on the wire.

One exception, :class:`ServiceError`, carries the AWS error code, the message and the HTTP
status. Handlers raise it; the server turns it into a JSON 1.1 error document
``{"__type": code, "message": message}`` with an ``x-amzn-ErrorType`` header, which
botocore parses into ``ClientError.response["Error"]["Code"]``.

Status codes follow Cognito: 400 for every client error (including
``TooManyRequestsException`` and ``LimitExceededException``), 403 for
``ForbiddenException``, 500 for ``InternalErrorException``.
"""

from __future__ import annotations

__all__ = ["STATUS_BY_CODE", "ServiceError", "invalid_parameter", "not_authorized", "status_for"]

STATUS_BY_CODE: dict[str, int] = {
    "InternalErrorException": 500,
    "ForbiddenException": 403,
}

# Default messages for codes that may be scripted without a message of their own.
DEFAULT_MESSAGES: dict[str, str] = {
    "TooManyRequestsException": "Too many requests",
    "LimitExceededException": "Attempt limit exceeded, please try after some time.",
    "InternalErrorException": "Internal server error.",
    "UserNotFoundException": "Username/client id combination not found.",
    "NotAuthorizedException": "Not authorized.",
    "CodeDeliveryFailureException": "Unable to deliver the code.",
    "ForbiddenException": "Request forbidden by AWS WAF.",
}


def status_for(code: str) -> int:
    """The HTTP status Cognito answers ``code`` with (400 unless listed)."""
    return STATUS_BY_CODE.get(code, 400)


class ServiceError(Exception):
    """Raised by a handler to answer an AWS error document instead of a result."""

    def __init__(self, code: str, message: str | None = None, *, status: int | None = None):
        text = message if message is not None else DEFAULT_MESSAGES.get(code, code)
        super().__init__(f"{code}: {text}")
        self.code = code
        self.message = text
        self.status = status if status is not None else status_for(code)

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r}, status={self.status})"


def invalid_parameter(message: str) -> ServiceError:
    """An ``InvalidParameterException`` with ``message``."""
    return ServiceError("InvalidParameterException", message)


def not_authorized(message: str) -> ServiceError:
    """A ``NotAuthorizedException`` with ``message``."""
    return ServiceError("NotAuthorizedException", message)
