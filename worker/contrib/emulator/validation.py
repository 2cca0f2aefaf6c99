"""Request validation compiled once from botocore's cognito-idp model.

Cognito answers a broken constraint (missing member, length, range, pattern, enum) with
``InvalidParameterException`` and a message such as ``1 validation error detected: Value
null at 'userPoolId' failed to satisfy constraint: Member must not be null``, leaving out the
value of sensitive members (even the word ``null``). The pattern is checked on empty strings
too. Recorded from a real pool's UpdateUserAttributes (iampanupat/CS499-AlphanahBackend,
``src/test/java/com/alphanah/alphanahbackend/old/AccountServiceUnitTest.java``): an empty
AccessToken answers ``1 validation error detected: Value at 'accessToken' failed to satisfy
constraint: Member must satisfy regular expression pattern: [A-Za-z0-9-_=.]+`` (before any
token check), a null one ``Value at 'accessToken' ... Member must not be null``, and an empty
attribute name both the length and the pattern message (``2 validation errors detected``).
A member of the wrong JSON type cannot be deserialized at all
and answers ``SerializationException``. The model's Java patterns use ``\\p{..}`` classes
that :mod:`re` lacks; :func:`_python_pattern` rewrites them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import botocore.loaders

from worker.contrib.emulator.errors import ServiceError, invalid_parameter

__all__ = ["OperationValidator", "load_validators"]

# L, M, S, N and P together: everything printable that is not a separator or control.
_PRINTABLE = r"[^\s\x00-\x1f\x7f-\x9f]"
_P_CLASSES = r"\p{L}\p{M}\p{S}\p{N}\p{P}"


def _python_pattern(java: str) -> re.Pattern[str] | None:
    """Compile a model pattern for :func:`re.fullmatch`; None if it cannot be expressed."""
    text = java
    start = text.find("[" + _P_CLASSES)
    while start != -1:
        end = text.index("]", start + 1 + len(_P_CLASSES))
        rest = text[start + 1 + len(_P_CLASSES) : end]
        alternative = _PRINTABLE if not rest else f"(?:{_PRINTABLE}|[{rest}])"
        text = text[:start] + alternative + text[end + 1 :]
        start = text.find("[" + _P_CLASSES)
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        return None


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "blob": (str,),
    "integer": (int,),
    "long": (int,),
    "double": (int, float),
    "float": (int, float),
    "boolean": (bool,),
    "timestamp": (int, float, str),
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
}


@dataclass(frozen=True)
class _Member:
    name: str
    wire: str  # lowerCamel name as Cognito prints it in messages
    kind: str
    sensitive: bool
    min: int | None
    max: int | None
    pattern: re.Pattern[str] | None
    pattern_text: str | None
    enum: tuple[str, ...] | None

    def problems(self, value: Any) -> Iterable[str]:
        shown = "Value" if self.sensitive else f"Value '{value}'"
        prefix = f"{shown} at '{self.wire}' failed to satisfy constraint: Member must"
        if self.kind == "string":
            yield from self._bounds(prefix, "length", len(value))
            if self.pattern is not None and not self.pattern.fullmatch(value):
                yield f"{prefix} satisfy regular expression pattern: {self.pattern_text}"
            if self.enum is not None and value not in self.enum:
                yield f"{prefix} satisfy enum value set: [{', '.join(self.enum)}]"
        elif self.kind in ("integer", "long"):
            yield from self._bounds(prefix, "value", value)
        elif self.kind in ("list", "map"):
            yield from self._bounds(prefix, "length", len(value))

    def _bounds(self, prefix: str, what: str, measure: float) -> Iterable[str]:
        """The model's min/max messages for a length or a value."""
        if self.min is not None and measure < self.min:
            yield f"{prefix} have {what} greater than or equal to {self.min}"
        if self.max is not None and measure > self.max:
            yield f"{prefix} have {what} less than or equal to {self.max}"


def _type_ok(kind: str, value: Any) -> bool:
    allowed = _JSON_TYPES.get(kind, (object,))
    if kind in ("integer", "long", "double", "float") and isinstance(value, bool):
        return False
    return isinstance(value, allowed)


class OperationValidator:
    """Checks one operation's input document against the model; built once per operation."""

    def __init__(self, operation: str, members: list[_Member], required: list[str]) -> None:
        self.operation = operation
        self._members = members
        self._required = [m for m in members if m.name in set(required)]

    def __call__(self, params: dict[str, Any]) -> None:
        """Raise :class:`ServiceError` when ``params`` breaks the model; return otherwise."""
        messages: list[str] = []
        for member in self._members:
            value = params.get(member.name)
            if value is None:
                continue
            if not _type_ok(member.kind, value):
                raise ServiceError(
                    "SerializationException",
                    f"Unexpected value type for member '{member.name}': expected "
                    f"{member.kind}, got {type(value).__name__}",
                )
            messages.extend(member.problems(value))
        for member in self._required:
            if params.get(member.name) is None:
                shown = "Value" if member.sensitive else "Value null"
                messages.append(
                    f"{shown} at '{member.wire}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        if messages:
            count = len(messages)
            noun = "error" if count == 1 else "errors"
            raise invalid_parameter(f"{count} validation {noun} detected: " + "; ".join(messages))


def load_validators(operations: Iterable[str]) -> dict[str, Callable[[dict[str, Any]], None]]:
    """One validator per operation name, from botocore's cognito-idp ``service-2`` model."""
    model = botocore.loaders.Loader().load_service_model("cognito-idp", "service-2")
    shapes: dict[str, Any] = model["shapes"]
    validators: dict[str, Callable[[dict[str, Any]], None]] = {}
    for operation in operations:
        spec = model["operations"][operation]
        input_shape = shapes[spec["input"]["shape"]]
        members: list[_Member] = []
        for name, ref in input_shape.get("members", {}).items():
            shape = shapes[ref["shape"]]
            pattern_text = shape.get("pattern")
            members.append(
                _Member(
                    name=name,
                    wire=name[:1].lower() + name[1:],
                    kind=shape["type"],
                    sensitive=bool(shape.get("sensitive") or ref.get("sensitive")),
                    min=shape.get("min"),
                    max=shape.get("max"),
                    pattern=_python_pattern(pattern_text) if pattern_text else None,
                    pattern_text=pattern_text,
                    enum=tuple(shape["enum"]) if "enum" in shape else None,
                )
            )
        validators[operation] = OperationValidator(
            operation, members, list(input_shape.get("required", []))
        )
    return validators
