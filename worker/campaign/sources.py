"""Where a campaign's usernames come from: a file (CSV, JSON Lines, text) or a user pool.

File rows are checked one by one: a bad row is rejected with its line number (from 1, as
an editor shows it) and a reason, a repeated username is dropped and counted, and the rest
goes on. A pool is listed through ListUsers (an IAM operation) with a filter, 60 users a
page, one ``UserList`` permit per page.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from worker.campaign.model import MAX_REJECTS_SHOWN
from worker.cognito import make_client, to_cognito_error
from worker.errors import (
    CampaignError,
    CognitoError,
    ConfigurationError,
    InvalidRequestError,
    PermitTimeoutError,
    ThrottledError,
)
from worker.ratelimit.base import Category, Priority, RateLimiter
from worker.retry import retrying
from worker.settings import Settings
from worker.validation import check_username

__all__ = [
    "DEFAULT_POOL_FILTER",
    "LIST_USERS_PAGE_SIZE",
    "FileFormat",
    "Intake",
    "Reject",
    "detect_format",
    "list_pool_pages",
    "read_rows",
    "require_iam_credentials",
]

FileFormat = Literal["csv", "jsonl", "text"]
DEFAULT_POOL_FILTER = 'cognito:user_status = "UNCONFIRMED"'
LIST_USERS_PAGE_SIZE = 60  # the largest Limit ListUsers accepts

_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".txt": "text",
    ".text": "text",
    ".lst": "text",
}
_PLAIN_ASCII = re.compile(r"[!-~]{1,128}")  # printable ASCII without space: always valid


@dataclass(frozen=True)
class Reject:
    """A row that was not accepted: its line (from 1) and why."""

    line: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The ``{"line", "reason"}`` form of the start document."""
        return {"line": self.line, "reason": self.reason}


@dataclass
class Intake:
    """Accepts usernames in order: drops repeats, keeps the first rejects, counts both."""

    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    rejects: list[Reject] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    def offer(self, line: int, value: str | Reject) -> str | None:
        """Return the username if it is new and valid; otherwise count it and return None."""
        if isinstance(value, Reject):
            self.reject(value)
            return None
        if value in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(value)
        self.accepted += 1
        return value

    def reject(self, reject: Reject) -> None:
        """Count ``reject`` and keep it if fewer than the shown maximum are kept."""
        self.rejected += 1
        if len(self.rejects) < MAX_REJECTS_SHOWN:
            self.rejects.append(reject)


def check_row(line: int, raw: str) -> str | Reject:
    """Validate one username (surrounding whitespace removed) or say why it is rejected."""
    name = raw.strip()
    if _PLAIN_ASCII.fullmatch(name):
        return name
    if not name:
        return Reject(line, "empty username")
    if any("\udc80" <= char <= "\udcff" for char in name):
        return Reject(line, "not valid UTF-8")
    try:
        return check_username(name)
    except InvalidRequestError as exc:
        return Reject(line, f"username {exc.message}")


def detect_format(path: str, head: bytes) -> FileFormat:
    """The format by the file's extension, or else by its first non-blank line."""
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    first = next((line.strip() for line in head.splitlines() if line.strip()), b"")
    first = first.removeprefix(b"\xef\xbb\xbf")
    if first.startswith(b"{"):
        return "jsonl"
    fields = [part.strip().strip(b'"').lower() for part in first.split(b",")]
    if b"username" in fields:
        return "csv"
    return "text"


def open_input(path: str) -> bytes:
    """The whole input as bytes (``-`` is standard input).

    Raises:
        CampaignError: the file cannot be read.
    """
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CampaignError(f"cannot read {path}: {exc.strerror}") from None


def read_rows(data: bytes, fmt: FileFormat) -> Iterator[tuple[int, str | Reject]]:
    """Yield ``(line, username or Reject)`` for every row of ``data`` in format ``fmt``.

    Raises:
        CampaignError: a CSV file whose header has no ``username`` column.
    """
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if fmt == "csv":
        yield from _csv_rows(text)
    elif fmt == "jsonl":
        yield from _jsonl_rows(text)
    else:
        for line, raw in enumerate(text.splitlines(), start=1):
            yield line, check_row(line, raw)


def _csv_rows(text: str) -> Iterator[tuple[int, str | Reject]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise CampaignError(f"line 1: not a CSV header ({exc})") from None
    names = [name.strip().lower() for name in header]
    if "username" not in names:
        raise CampaignError(f"line 1: the CSV header has no 'username' column ({header!r})")
    column = names.index("username")
    last = reader.line_num
    while True:
        start = last + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last = reader.line_num
            yield start, Reject(start, f"not valid CSV ({exc})")
            continue
        last = reader.line_num
        if not record:
            yield start, Reject(start, "empty line")
        elif column >= len(record):
            yield start, Reject(start, "no value in the 'username' column")
        else:
            yield start, check_row(start, record[column])


def _jsonl_rows(text: str) -> Iterator[tuple[int, str | Reject]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            yield line, Reject(line, "empty line")
            continue
        try:
            document = json.loads(raw)
        except ValueError as exc:
            reason = "not valid UTF-8" if max(raw) >= "\udc80" else f"not valid JSON ({exc})"
            yield line, Reject(line, reason)
            continue
        if not isinstance(document, dict) or "username" not in document:
            yield line, Reject(line, "no 'username' field")
        elif not isinstance(document["username"], str):
            yield line, Reject(line, "'username' is not a string")
        else:
            yield line, check_row(line, document["username"])


def require_iam_credentials(settings: Settings, purpose: str) -> None:
    """Check that a signed (IAM) Cognito client can be built for ``purpose``.

    Raises:
        CampaignError: no AWS credentials are available; the message says what needs them.
    """
    try:
        make_client(settings, signed=True)
    except ConfigurationError as exc:
        raise CampaignError(f"{purpose} needs AWS IAM credentials: {exc}") from None


def _list_page(
    settings: Settings, limiter: RateLimiter, client: Any, params: dict[str, Any]
) -> dict[str, Any]:
    """One ListUsers page: a UserList permit per attempt, retried like every call.

    Raises:
        CognitoError: a permanent error, or a transient one that outlasted the retries.
        PermitTimeoutError: no permit within the bounded wait, retries included.
    """

    def attempt() -> dict[str, Any]:
        limiter.acquire(
            Category.USER_LIST,
            priority=Priority.BULK,
            timeout_seconds=settings.permit_wait_max_seconds,
        )
        try:
            page: dict[str, Any] = client.list_users(**params)
        except (ClientError, BotoCoreError) as exc:
            error = to_cognito_error(exc)
            if isinstance(error, ThrottledError):
                limiter.report_throttle(Category.USER_LIST)
            raise error from None
        return page

    result: dict[str, Any] = retrying(settings)(attempt)
    return result


def list_pool_pages(
    settings: Settings,
    limiter: RateLimiter,
    user_pool_id: str,
    *,
    filter_expression: str = DEFAULT_POOL_FILTER,
    page_token: str | None = None,
) -> Iterator[tuple[list[str], str | None]]:
    """Yield ``(usernames, next page token or None)`` for each ListUsers page.

    Takes one ``UserList`` permit (bulk priority) before each attempt at a page; throttled
    and transient failures are retried (:mod:`worker.retry`).

    Raises:
        CampaignError: no IAM credentials (ListUsers is an IAM operation), or Cognito
            refused the listing (unknown pool, bad filter, ...).
    """
    try:
        client = make_client(settings, signed=True)
    except ConfigurationError as exc:
        raise CampaignError(f"cannot list pool {user_pool_id}: {exc}") from None
    token = page_token
    while True:
        params: dict[str, Any] = {
            "UserPoolId": user_pool_id,
            "Limit": LIST_USERS_PAGE_SIZE,
            "AttributesToGet": [],
        }
        if filter_expression:
            params["Filter"] = filter_expression
        if token:
            params["PaginationToken"] = token
        try:
            page = _list_page(settings, limiter, client, params)
        except (CognitoError, PermitTimeoutError) as error:
            # chained: the HTTP front answers an unknown pool 404 from the cause's code
            raise CampaignError(f"ListUsers on {user_pool_id} failed: {error}") from error
        token = page.get("PaginationToken")
        yield [user["Username"] for user in page.get("Users", []) if "Username" in user], token
        if not token:
            return
