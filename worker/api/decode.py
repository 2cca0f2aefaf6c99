"""Strict decoding of the front's input: a query string and a JSON body, or a clear 400.

Nothing is rewritten on the way in. Python's and Starlette's defaults resolve doubtful
input silently (``%FF`` becomes U+FFFD, a repeated JSON key keeps its last value, a
5,000-digit integer or a 100,000-deep array raises ValueError/RecursionError, a 500);
here each of these is a 400 naming what is wrong:

- the query string: every name and value percent-decoded to bytes, then decoded as strict
  UTF-8 (``InvalidParameterException``); a name given twice is refused. ``+`` means a
  space, as in every form-encoded query (WHATWG URL standard, application/x-www-form-
  urlencoded): the names of values that held a literal ``+`` are kept, so a value that
  then fails its check can carry the hint to send ``%2B``.
- a JSON body: strict UTF-8 (no BOM, no UTF-16), RFC 8259 JSON only (``NaN`` and
  ``Infinity`` refused), no key twice in one object, at most :data:`MAX_DEPTH` levels of
  nesting, integers of at most :data:`MAX_INTEGER_DIGITS` digits, finite floats, no lone
  surrogate (``"\\ud800"``) in any string (``SerializationException``).
- a body larger than :data:`MAX_BODY_BYTES` (413) or slower to arrive than the body read
  timeout (408, ``RequestTimeout``).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from worker.api.errors import ApiError, invalid, shown

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_INTEGER_DIGITS",
    "Query",
    "decode_json",
    "parse_query",
    "read_json_object",
]

MAX_BODY_BYTES: Final = 16 * 1024 * 1024  # a campaign of ~500,000 inline usernames
# The deepest valid body is 2 levels (an object holding ClientMetadata or Usernames).
MAX_DEPTH: Final = 8
# No parameter is a number; an integer is refused by type later. The bound only keeps
# int() from parsing thousands of digits (CPython refuses > 4,300 with ValueError).
MAX_INTEGER_DIGITS: Final = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_SERIALIZED = "SerializationException"


@dataclass(frozen=True)
class Query:
    """A decoded query string: ``params`` by name, and the names whose value held a ``+``."""

    params: dict[str, str]
    plus_in: frozenset[str] = field(default_factory=frozenset)


def parse_query(raw: bytes) -> Query:
    """Decode a raw query string (the ASGI scope's ``query_string``) without rewriting it.

    Raises:
        ApiError: 400 InvalidParameterException for a name or value that is not UTF-8 once
            percent-decoded, or a name given more than once.
    """
    params: dict[str, str] = {}
    plus_in: set[str] = set()
    for pair in raw.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _utf8(raw_name, "(a parameter name)")
        value = _utf8(raw_value, name)
        if name in params:
            raise invalid(name, "given more than once")
        params[name] = value
        if b"+" in raw_value:
            plus_in.add(name)
    return Query(params, frozenset(plus_in))


def _utf8(raw: bytes, name: str) -> str:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(name, "not valid UTF-8 once percent-decoded") from None


async def read_json_object(request: Request, *, timeout_seconds: float) -> dict[str, Any]:
    """The request's body as a JSON object, read within ``timeout_seconds``.

    Raises:
        ApiError: 413 over :data:`MAX_BODY_BYTES`; 408 RequestTimeout when the body takes
            longer than ``timeout_seconds`` to arrive; 400 SerializationException when it
            is not one strict JSON object (see the module docstring).
        starlette.requests.ClientDisconnect: the client went away mid-body.
    """
    too_large = ApiError(413, "RequestEntityTooLarge", f"the body is over {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length") or "0"
    if not declared.isdigit():
        raise ApiError(400, _NOT_SERIALIZED, "Content-Length: not a number of bytes")
    if int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise too_large
    except TimeoutError:
        raise ApiError(
            408,
            "RequestTimeout",
            f"the body did not arrive within {timeout_seconds:g} s",
            headers={"Connection": "close"},
        ) from None
    document = decode_json(bytes(body))
    if not isinstance(document, dict):
        raise ApiError(400, _NOT_SERIALIZED, "the body must be a JSON object")
    return document


def decode_json(body: bytes) -> Any:
    """Parse ``body`` as strict JSON (module docstring); the value, any JSON type.

    Raises:
        ApiError: 400 SerializationException naming the rule the body breaks.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, _NOT_SERIALIZED, f"the body is not valid UTF-8 (byte {exc.start + 1})"
        ) from None
    try:
        document = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            _NOT_SERIALIZED,
            f"the body is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})",
        ) from None
    except RecursionError:  # the C scanner's guard, far deeper than MAX_DEPTH
        raise _too_deep() from None
    _check_tree(document)
    return document


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ApiError(
                400, _NOT_SERIALIZED, f"{shown(key)}: given more than once in one JSON object"
            )
        document[key] = value
    return document


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ApiError(
            400,
            _NOT_SERIALIZED,
            f"a number in the body is out of range (more than {MAX_INTEGER_DIGITS} digits)",
        )
    return int(digits)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ApiError(400, _NOT_SERIALIZED, "a number in the body is out of range")
    return value


def _constant(name: str) -> Any:
    raise ApiError(400, _NOT_SERIALIZED, f"{name} is not JSON (RFC 8259)")


def _too_deep() -> ApiError:
    return ApiError(400, _NOT_SERIALIZED, f"the body is nested more than {MAX_DEPTH} levels deep")


def _check_tree(document: Any) -> None:
    """Depth and lone surrogates, walked without recursion."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ApiError(
                    400, _NOT_SERIALIZED, "a string in the body holds a lone surrogate (\\ud800)"
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        else:
            stack.extend((item, depth + 1) for item in value)
