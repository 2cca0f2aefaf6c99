"""The synthetic pool: up to millions of users that exist only as a count.

User ``n`` (1-based) is ``user{n:07d}`` with email ``user{n:07d}@example.com``, phone
``+1555{n:07d}``, status ``UNCONFIRMED`` and password :data:`SYNTHETIC_PASSWORD`, and a
``sub`` derived from ``n``. Ids are fixed so scripts can know them:

* pool ``<region>_Synthetic1`` (name ``synthetic``)
* client :data:`PUBLIC_CLIENT_ID` without a secret
* client :data:`SECRET_CLIENT_ID` whose secret is :func:`client_secret` of the run's seed

This module only names them; :meth:`worker.contrib.emulator.state.User.synthetic` builds
the user (so the pool's state imports the names, never the other way round).
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "PUBLIC_CLIENT_ID",
    "SECRET_CLIENT_ID",
    "SYNTHETIC_PASSWORD",
    "attribute",
    "attributes",
    "client_secret",
    "index_of",
    "pool_id",
    "sub",
    "username",
]

PUBLIC_CLIENT_ID = "synthetic0client0000000001"
SECRET_CLIENT_ID = "synthetic0client0000000002"  # noqa: S105 - an id, not a secret
SYNTHETIC_PASSWORD = "Synthetic-Passw0rd!"  # noqa: S105 - a documented test fixture
_NAME = re.compile(r"user(\d{7})")


def pool_id(region: str) -> str:
    """The synthetic pool's id in ``region``."""
    return f"{region}_Synthetic1"


def client_secret(seed: int) -> str:
    """The secret of :data:`SECRET_CLIENT_ID`, derived from the run's seed (52 chars)."""
    return hashlib.sha256(f"cognito-courier-emulator/{seed}".encode()).hexdigest()[:52]


def username(index: int) -> str:
    """The username of synthetic user ``index`` (1-based)."""
    return f"user{index:07d}"


def index_of(name: str, count: int) -> int | None:
    """The index of synthetic user ``name`` when it is one of the first ``count``."""
    if not count or len(name) != 11:
        return None
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    index = int(match.group(1))
    return index if 1 <= index <= count else None


def attributes(index: int) -> dict[str, str]:
    """The stored attributes of synthetic user ``index`` (all but ``sub``), made afresh."""
    return {
        "email": f"{username(index)}@example.com",
        "email_verified": "false",
        "phone_number": f"+1555{index:07d}",
        "phone_number_verified": "false",
    }


def attribute(index: int, name: str) -> str | None:
    """One attribute of synthetic user ``index`` without building the user (fast scans)."""
    if name == "username":
        return username(index)
    if name == "email":
        return f"{username(index)}@example.com"
    if name == "phone_number":
        return f"+1555{index:07d}"
    if name == "cognito:user_status":
        return "UNCONFIRMED"
    if name == "status":
        return "Enabled"
    if name == "sub":
        return sub(index)
    return None


def sub(index: int) -> str:
    """The ``sub`` of synthetic user ``index``: fixed, so scripts can know it."""
    return f"5e7e71c0-0000-4000-8000-{index:012d}"
