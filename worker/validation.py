"""Check producers' input against botocore's cognito-idp model before anything is enqueued.

Each check raises :class:`~worker.errors.InvalidRequestError` naming the field, so a bad
input gets a clear error at the door and nothing reaches the queue. The constraints are
the model's (2016-04-18): lengths, patterns and required members.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from worker.errors import InvalidRequestError

__all__ = [
    "ACCESS_TOKEN_MAX_LENGTH",
    "check_access_token",
    "check_attribute_name",
    "check_client_id",
    "check_client_metadata",
    "check_job_id",
    "check_seconds",
    "check_secret_hash",
    "check_username",
]

_CLIENT_ID = re.compile(r"[\w+]+")
_SECRET_HASH = re.compile(r"[\w+=/]+")
_TOKEN = re.compile(r"[A-Za-z0-9\-_=.]+")
_METADATA_MAX = 131072
# Cognito's model gives AccessToken no length bound. Its access tokens are JWTs of about
# 1-2 KB (a few KB with many groups or scopes); 16,384 characters leaves ample room and
# keeps a pasted file or a runaway value out of the broker (one message per token).
ACCESS_TOKEN_MAX_LENGTH: Final = 16384
# The model's \p{L}\p{M}\p{S}\p{N}\p{P}: letters, marks, symbols, numbers, punctuation.
_PRINTABLE_CATEGORIES = frozenset("LMSNP")


def _text(field: str, value: Any, *, min_length: int, max_length: int | None) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(field, f"must be a string, got {type(value).__name__}")
    if len(value) < min_length:
        raise InvalidRequestError(field, "is required and must not be empty")
    if max_length is not None and len(value) > max_length:
        raise InvalidRequestError(
            field, f"is {len(value)} characters long; at most {max_length} are allowed"
        )
    return value


def _categories(field: str, value: str, *, extra: str = "") -> None:
    for position, char in enumerate(value, start=1):
        if char not in extra and unicodedata.category(char)[0] not in _PRINTABLE_CATEGORIES:
            raise InvalidRequestError(
                field,
                f"character {position} ({char!r}) is not allowed: letters, marks, symbols, "
                "numbers and punctuation only",
            )


def check_client_id(value: Any) -> str:
    """ClientId: 1-128 characters of ``[\\w+]``."""
    text = _text("ClientId", value, min_length=1, max_length=128)
    if not _CLIENT_ID.fullmatch(text):
        raise InvalidRequestError("ClientId", "must match [\\w+]+ (letters, digits, _ and +)")
    return text


def check_username(value: Any) -> str:
    """Username: 1-128 letters, marks, symbols, numbers or punctuation (no spaces)."""
    text = _text("Username", value, min_length=1, max_length=128)
    _categories("Username", text)
    return text


def check_secret_hash(value: Any) -> str:
    """SecretHash: 1-128 characters of ``[\\w+=/]`` (base64)."""
    text = _text("SecretHash", value, min_length=1, max_length=128)
    if not _SECRET_HASH.fullmatch(text):
        raise InvalidRequestError("SecretHash", "must be base64 ([\\w+=/]+)")
    return text


def check_access_token(value: Any) -> str:
    """AccessToken: required, 1-16,384 characters of ``[A-Za-z0-9-_=.]``.

    The pattern is the model's; the length cap is the project's (:data:`ACCESS_TOKEN_MAX_LENGTH`,
    the model has none). The value never appears in the error.
    """
    text = _text("AccessToken", value, min_length=1, max_length=ACCESS_TOKEN_MAX_LENGTH)
    if not _TOKEN.fullmatch(text):
        raise InvalidRequestError(
            "AccessToken", "must match [A-Za-z0-9-_=.]+ (a JWT as Cognito issues it)"
        )
    return text


def check_attribute_name(value: Any) -> str:
    """AttributeName: 1-32 letters, marks, symbols, numbers, punctuation or whitespace."""
    text = _text("AttributeName", value, min_length=1, max_length=32)
    _categories("AttributeName", text, extra="\t\n\r ")
    return text


def check_client_metadata(value: Any) -> dict[str, str] | None:
    """ClientMetadata: a map of strings to strings, each at most 131,072 characters."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequestError("ClientMetadata", "must be a map of strings to strings")
    checked: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidRequestError("ClientMetadata", "keys and values must be strings")
        if len(key) > _METADATA_MAX or len(item) > _METADATA_MAX:
            raise InvalidRequestError(
                "ClientMetadata", f"keys and values are limited to {_METADATA_MAX} characters"
            )
        checked[key] = item
    return checked


def check_job_id(value: Any, *, field: str = "job_id") -> str:
    """A job (or campaign) id as the producer API hands them out: a non-empty string.

    Ids are UUIDs, but any string of at most 64 characters is looked up (and simply not
    found), so only the type and the length are checked here.
    """
    return _text(field, value, min_length=1, max_length=64)


def check_seconds(field: str, value: Any, *, allow_zero: bool = True) -> float:
    """A duration in seconds: a finite int or float, at least 0 (above 0 unless ``allow_zero``).

    Raises:
        InvalidRequestError: ``value`` is not a number (bools included), is NaN or
            infinite, is negative, or is 0 where ``allow_zero`` is false; names ``field``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(field, f"must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise InvalidRequestError(field, f"must be a finite number of seconds, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "at least 0" if allow_zero else "above 0"
        raise InvalidRequestError(field, f"must be {bound} seconds, got {value!r}")
    return seconds
