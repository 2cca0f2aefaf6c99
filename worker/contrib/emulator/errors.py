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

__all__ = [
    "ATTEMPT_LIMIT_MESSAGE",
    "DAILY_EMAIL_LIMIT_MESSAGE",
    "PRESETS",
    "STATUS_BY_CODE",
    "ServiceError",
    "invalid_parameter",
    "not_authorized",
    "status_for",
]

# Cognito's per-user answer (public: aws-amplify/amplify-js#8013 and many more).
ATTEMPT_LIMIT_MESSAGE = "Attempt limit exceeded, please try after some time."
# Cognito's answer once the account's default e-mail sender spent its daily quota
# (public: aws-amplify/amplify-cli#7412, Polkadex-Substrate/Polkadex-Open-Beta#418).
DAILY_EMAIL_LIMIT_MESSAGE = (
    "Exceeded daily email limit for the operation or the account. If a higher limit is "
    "required, please configure your user pool to use your own Amazon SES configuration "
    "for sending email."
)

# Named answers a script may use as ``@name``: (code, message).
PRESETS: dict[str, tuple[str, str]] = {
    "daily-email-limit": ("LimitExceededException", DAILY_EMAIL_LIMIT_MESSAGE),
    "attempt-limit": ("LimitExceededException", ATTEMPT_LIMIT_MESSAGE),
    "throttled": ("TooManyRequestsException", "Too many requests"),
}

STATUS_BY_CODE: dict[str, int] = {
    "InternalErrorException": 500,
    "ForbiddenException": 403,
}

# Default messages for codes that may be scripted without a message of their own.
DEFAULT_MESSAGES: dict[str, str] = {
    "TooManyRequestsException": "Too many requests",
    "LimitExceededException": ATTEMPT_LIMIT_MESSAGE,
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
