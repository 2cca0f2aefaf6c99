"""Where a campaign's usernames come from: a file or a user pool.

A file is read by :mod:`worker.campaign.formats` (its encoding and lines by
:mod:`worker.campaign.textfile`), row by row: a bad row is rejected with its line number
(from 1, as an editor shows it) and a reason, a repeated username is dropped and counted
(:class:`~worker.campaign.rows.Intake`), and the rest goes on. A pool is listed through
ListUsers (an IAM operation, through the process's gateway: :mod:`worker.cognito`) with
a filter, 60 users a page, one ``UserList`` permit per page.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from worker.campaign.formats import FileFormat, detect_format, read_rows
from worker.campaign.rows import Intake, Reject, check_row
from worker.cognito import CognitoGateway
from worker.errors import (
    CampaignError,
    CognitoError,
    ConfigurationError,
    PermitTimeoutError,
    ThrottledError,
)
from worker.ratelimit.base import Category, Priority, RateLimiter
from worker.retry import retrying

__all__ = [
    "DEFAULT_POOL_FILTER",
    "LIST_USERS_PAGE_SIZE",
    "FileFormat",
    "Intake",
    "Reject",
    "check_row",
    "detect_format",
    "list_pool_pages",
    "open_input",
    "read_rows",
    "require_iam_credentials",
]

DEFAULT_POOL_FILTER = 'cognito:user_status = "UNCONFIRMED"'
LIST_USERS_PAGE_SIZE = 60  # the largest Limit ListUsers accepts


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


def require_iam_credentials(
    gateway: CognitoGateway, purpose: str, user_pool_id: str | None = None
) -> None:
    """Check that the gateway can sign IAM calls for ``purpose`` (in the pool's Region).

    Raises:
        CampaignError: no AWS credentials are available; the message says what needs them.
    """
    try:
        gateway.require_signed(user_pool_id)
    except ConfigurationError as exc:
        raise CampaignError(f"{purpose}: {exc}") from None


def _list_page(
    gateway: CognitoGateway, limiter: RateLimiter, params: dict[str, Any]
) -> dict[str, Any]:
    """One ListUsers page: a UserList permit per attempt, retried like every call.

    Raises:
        CognitoError: a permanent error, or a transient one that outlasted the retries.
        PermitTimeoutError: no permit within the bounded wait, retries included.
    """

    settings = gateway.settings

    def attempt() -> dict[str, Any]:
        limiter.acquire(
            Category.USER_LIST,
            priority=Priority.BULK,
            timeout_seconds=settings.permit_wait_max_seconds,
        )
        try:
            return gateway.list_users(**params)
        except ThrottledError:
            limiter.report_throttle(Category.USER_LIST)
            raise

    result: dict[str, Any] = retrying(settings)(attempt)
    return result


def list_pool_pages(
    gateway: CognitoGateway,
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
    token = page_token
    while True:
        params: dict[str, Any] = {
            "user_pool_id": user_pool_id,
            "Limit": LIST_USERS_PAGE_SIZE,
            "AttributesToGet": [],
        }
        if filter_expression:
            params["Filter"] = filter_expression
        if token:
            params["PaginationToken"] = token
        try:
            page = _list_page(gateway, limiter, params)
        except ConfigurationError as exc:
            raise CampaignError(f"cannot list pool {user_pool_id}: {exc}") from None
        except (CognitoError, PermitTimeoutError) as error:
            # chained: the HTTP front answers an unknown pool 404 from the cause's code
            raise CampaignError(f"ListUsers on {user_pool_id} failed: {error}") from error
        token = page.get("PaginationToken")
        yield [user["Username"] for user in page.get("Users", []) if "Username" in user], token
        if not token:
            return
