"""ListUsers: Cognito's filter language (``attr = "value"``, ``attr ^= "value"``) and paging.

Searchable attributes are those Cognito documents (API reference, ListUsers ``Filter``):
username (case-sensitive), email, phone_number, name, given_name, family_name,
preferred_username, cognito:user_status (case-insensitive), status (Enabled/Disabled,
case-sensitive) and sub. Searches are case-insensitive except where the reference notes
otherwise, so the value of every attribute but ``username``, ``status`` and ``sub`` is
compared without regard to case, for ``=`` and ``^=`` alike. Users of a synthetic range are
matched without being built. One call scans at most :data:`SCAN_BUDGET` positions and
then answers what it found with a PaginationToken, as Cognito may answer fewer users than
``Limit``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from worker.contrib.emulator import synthetic
from worker.contrib.emulator.common import find_pool, user_document
from worker.contrib.emulator.errors import invalid_parameter
from worker.contrib.emulator.state import Pool, User

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context

__all__ = ["SCAN_BUDGET", "list_users", "parse_filter"]

SCAN_BUDGET = 200_000
_DEFAULT_LIMIT = 60
_FILTER = re.compile(r'\s*([\w:]+)\s*(\^?=)\s*"((?:[^"\\]|\\.)*)"\s*')
_SEARCHABLE = frozenset(
    {
        "username",
        "email",
        "phone_number",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "cognito:user_status",
        "status",
        "sub",
    }
)

# attributes whose searches the API reference notes as case-sensitive
_CASE_SENSITIVE = frozenset({"username", "status", "sub"})

Matcher = Callable[[str | None], bool]


def parse_filter(text: str | None) -> tuple[str, Matcher] | None:
    """(attribute, matcher) for a filter expression, None for no filter.

    Raises ``InvalidParameterException`` for an expression Cognito would not parse.
    """
    if text is None or not text.strip():
        return None
    match = _FILTER.fullmatch(text)
    if match is None or match.group(1) not in _SEARCHABLE:
        raise invalid_parameter("Error while parsing filter.")
    attribute, operator, raw = match.groups()
    value = re.sub(r"\\(.)", r"\1", raw)
    if attribute in _CASE_SENSITIVE:
        if operator == "=":
            return attribute, lambda candidate: candidate == value
        return attribute, lambda candidate: candidate is not None and candidate.startswith(value)
    folded = value.lower()
    if operator == "=":
        return attribute, lambda candidate: candidate is not None and candidate.lower() == folded
    return (
        attribute,
        lambda candidate: candidate is not None and candidate.lower().startswith(folded),
    )


def _value(user: User, attribute: str) -> str | None:
    if attribute == "username":
        return user.username
    if attribute == "cognito:user_status":
        return user.status
    if attribute == "status":
        return "Enabled" if user.enabled else "Disabled"
    if attribute == "sub":
        return user.sub
    return user.attributes.get(attribute)


def _encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"position:{position}".encode()).decode()


def _decode(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, _, number = text.partition(":")
        if kind != "position":
            raise ValueError(text)
        return int(number)
    except ValueError:
        raise invalid_parameter("Invalid pagination token.") from None


def _scan(
    pool: Pool, start: int, wanted: int, test: tuple[str, Matcher] | None
) -> tuple[list[User], int | None]:
    """Up to ``wanted`` matching users from ``start``; and where the next page starts."""
    found: list[User] = []
    count = pool.synthetic_count
    stored = pool.users
    position = start
    end_of_scan = start + SCAN_BUDGET
    for position, user in _candidates(pool, start, count, stored, test):
        if position >= end_of_scan:
            return found, position
        if user is None:
            continue
        if len(found) == wanted:
            return found, position
        found.append(user)
    return found, None


def _candidates(
    pool: Pool,
    start: int,
    count: int,
    stored: dict[str, User],
    test: tuple[str, Matcher] | None,
) -> Iterator[tuple[int, User | None]]:
    """Yield (position, user or None when it does not match) in listing order."""
    position = start
    while position < count:
        index = position + 1
        name = synthetic.username(index)
        user = stored.get(name)
        if pool.deleted(name):
            yield position, None
        elif user is not None:
            yield position, user if test is None or test[1](_value(user, test[0])) else None
        elif test is None or test[1](synthetic.attribute(index, test[0])):
            yield position, User.synthetic(index, created=pool.created)
        else:
            yield position, None
        position += 1
    for offset_position, user in pool.iter_users(max(position, count)):
        yield offset_position, user if test is None or test[1](_value(user, test[0])) else None


def list_users(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """One page of a pool's users, filtered."""
    pool = find_pool(emu, params["UserPoolId"])
    test = parse_filter(params.get("Filter"))
    limit = int(params.get("Limit") or _DEFAULT_LIMIT)
    start = _decode(params["PaginationToken"]) if params.get("PaginationToken") else 0
    users, next_position = _scan(pool, start, limit, test)
    wanted = params.get("AttributesToGet")
    documents = []
    for user in users:
        doc = user_document(user)
        if wanted is not None:
            doc["Attributes"] = [a for a in doc["Attributes"] if a["Name"] in wanted]
        documents.append(doc)
    result: dict[str, Any] = {"Users": documents}
    if next_position is not None:
        result["PaginationToken"] = _encode(next_position)
    return result
