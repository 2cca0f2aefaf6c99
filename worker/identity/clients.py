"""The client registry: which user pool, Region, secret and case rule each app client has.

Two files feed it (both optional, both read once at start-up by :mod:`worker.settings`):

- ``COURIER_CLIENTS``: ``{"<client_id>": {"user_pool_id": "us-east-1_AbCdEf",
  "secret": "..." (optional), "case_sensitive": false (optional)}}``.
- ``COURIER_CLIENT_SECRETS`` (older): ``{"<client_id>": "<client secret>"}``. A client
  listed only there has an unknown pool. A client in both takes its pool from
  ``COURIER_CLIENTS``; the two secrets must then agree.

Cognito facts this relies on (sources):

- A user pool id is ``<region>_<id>`` (botocore's cognito-idp 2016-04-18 model,
  ``UserPoolIdType``: pattern ``[\\w-]+_[0-9a-zA-Z]+``, 1-55 characters), and the part
  before the ``_`` is the pool's AWS Region (every pool ARN and endpoint agrees:
  ``cognito-idp.<region>.amazonaws.com/<pool id>``).
- Usernames are case-insensitive in pools created since the ``UsernameConfiguration``
  option exists unless ``CaseSensitive`` was set true at creation (Cognito developer
  guide, "User pool attributes" / CreateUserPool ``UsernameConfiguration``). The registry
  therefore folds case unless a client says ``"case_sensitive": true``: folding a
  case-sensitive pool only over-counts, which is safe.

A client without a known pool goes to the default Region
(:meth:`ClientRegistry.region_for`). Secrets never appear in a ``repr``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.errors import InvalidRequestError
from worker.validation import check_client_id

__all__ = [
    "ClientInfo",
    "ClientRegistry",
    "check_region",
    "fold_username",
    "pool_region",
    "pool_region_or_none",
    "read_client_secrets",
    "read_clients_file",
]

# botocore cognito-idp model: UserPoolIdType, pattern [\w-]+_[0-9a-zA-Z]+, max 55.
_POOL_ID = re.compile(r"^(?P<region>[\w-]+)_[0-9a-zA-Z]+$")
# AWS Region names: us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, ap-southeast-5.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_FIELDS = frozenset({"user_pool_id", "secret", "case_sensitive"})


def pool_region(user_pool_id: str) -> str:
    """The AWS Region of a user pool: the prefix of its id (``us-east-1_AbC`` -> ``us-east-1``).

    Raises:
        ValueError: ``user_pool_id`` is not ``<region>_<id>`` or its prefix is no Region.
    """
    match = _POOL_ID.match(user_pool_id) if len(user_pool_id) <= 55 else None
    if match is None:
        raise ValueError(
            f"{user_pool_id!r} is not a user pool id (<region>_<id>, e.g. us-east-1_AbCdEf)"
        )
    region = match.group("region")
    if not _REGION.match(region):
        raise ValueError(f"{user_pool_id!r}: {region!r} is not an AWS Region name")
    return region


def pool_region_or_none(user_pool_id: str | None) -> str | None:
    """:func:`pool_region`, or None when there is no pool id or it is malformed."""
    if user_pool_id is None:
        return None
    try:
        return pool_region(user_pool_id)
    except ValueError:
        return None


def check_region(region: str) -> str:
    """``region`` if it looks like an AWS Region name (``eu-west-1``).

    Raises:
        ValueError: naming the value when it does not.
    """
    if not _REGION.match(region):
        raise ValueError(f"{region!r} is not an AWS Region name (e.g. eu-west-1)")
    return region


def fold_username(username: str, *, case_sensitive: bool) -> str:
    """The form of ``username`` Cognito counts: case-folded unless the pool is case-sensitive.

    :meth:`str.casefold` folds at least everything ``lower()`` does (and ``ß`` to ``ss``):
    where it folds more than Cognito, two users share a count, which over-counts (safe).
    """
    return username if case_sensitive else username.casefold()


@dataclass(frozen=True)
class ClientInfo:
    """What the registry knows about one app client.

    Attributes:
        client_id: the app client id.
        user_pool_id: its pool, or None when unknown (listed only in
            COURIER_CLIENT_SECRETS, or not listed at all).
        secret: the client secret, or None (never shown by ``repr``).
        case_sensitive: True when the pool was created with case-sensitive usernames.
    """

    client_id: str
    user_pool_id: str | None = None
    secret: str | None = field(default=None, repr=False)
    case_sensitive: bool = False

    @property
    def region(self) -> str | None:
        """The pool's Region (its id's prefix), or None when the pool is unknown."""
        return None if self.user_pool_id is None else pool_region(self.user_pool_id)

    @property
    def counting_scope(self) -> str:
        """Whom Cognito's per-user caps are shared by: ``pool:<id>``, else ``client:<id>``."""
        if self.user_pool_id is not None:
            return f"pool:{self.user_pool_id}"
        return f"client:{self.client_id}"

    def fold(self, username: str) -> str:
        """``username`` as this client's pool counts it (see :func:`fold_username`)."""
        return fold_username(username, case_sensitive=self.case_sensitive)


class ClientRegistry:
    """Lookup ``client_id -> pool, Region, secret, case rule``; one per process, read-only.

    Args:
        clients: the known clients by id.
        default_region: the Region of clients whose pool is unknown, or None to have the
            caller resolve it (:mod:`worker.identity.regions`); never read here.
    """

    def __init__(self, clients: Mapping[str, ClientInfo], *, default_region: str | None) -> None:
        self._clients = dict(clients)
        self.default_region = default_region

    @classmethod
    def from_files(
        cls,
        *,
        clients_file: Path | None,
        secrets_file: Path | None,
        default_region: str | None = None,
    ) -> ClientRegistry:
        """Merge ``COURIER_CLIENTS`` and ``COURIER_CLIENT_SECRETS`` (see the module).

        Raises:
            ValueError: a file cannot be read or an entry is malformed (naming the file
                and the entry), or a client's two secrets disagree.
        """
        merged: dict[str, ClientInfo] = {}
        if secrets_file is not None:
            for client_id, only_secret in read_client_secrets(secrets_file).items():
                merged[client_id] = ClientInfo(client_id, secret=only_secret)
        if clients_file is not None:
            for client_id, info in read_clients_file(clients_file).items():
                older = merged.get(client_id)
                secret = info.secret
                if older is not None and older.secret is not None:
                    if secret is not None and secret != older.secret:
                        raise ValueError(
                            f"{clients_file}: client {client_id!r} has a secret that differs "
                            "from the one in COURIER_CLIENT_SECRETS"
                        )
                    secret = older.secret
                merged[client_id] = ClientInfo(
                    client_id, info.user_pool_id, secret, info.case_sensitive
                )
        return cls(merged, default_region=default_region)

    def lookup(self, client_id: str) -> ClientInfo:
        """The client's entry; an unlisted client gets one with an unknown pool, no secret."""
        return self._clients.get(client_id) or ClientInfo(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def __len__(self) -> int:
        return len(self._clients)

    def names_pools(self) -> bool:
        """True when COURIER_CLIENTS lists clients with their pools (a full registry)."""
        return any(info.user_pool_id for info in self._clients.values())

    def pool_mismatch(self, client_id: str, user_pool_id: str) -> str | None:
        """None unless the registry lists another pool for ``client_id``; then a sentence
        naming both (a campaign listing ``user_pool_id``'s users would resend to them
        through a client of another pool: namesakes there would get the codes)."""
        listed = self.lookup(client_id).user_pool_id
        if listed is None or listed == user_pool_id:
            return None
        return (
            f"user pool {user_pool_id!r} is not the pool of the app client {client_id!r} "
            f"(COURIER_CLIENTS lists {listed!r})"
        )

    def secret_for(self, client_id: str) -> str | None:
        """The client's secret, or None."""
        return self.lookup(client_id).secret

    def region_for(self, client_id: str) -> str | None:
        """The client's Region: its pool's, else :attr:`default_region` (None: not resolved)."""
        return self.lookup(client_id).region or self.default_region

    def configured_regions(self) -> list[str]:
        """Every Region a listed pool lives in, plus the default one when set; sorted."""
        regions = {info.region for info in self._clients.values() if info.user_pool_id}
        if self.default_region is not None:
            regions.add(self.default_region)
        return sorted(r for r in regions if r is not None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from None


def read_client_secrets(path: Path) -> dict[str, str]:
    """Read a COURIER_CLIENT_SECRETS file ``{client_id: client_secret}``.

    Raises:
        ValueError: unreadable, not JSON, or not an object of non-empty strings.
    """
    raw = _read_json(path)
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in raw.items()
    ):
        raise ValueError(f"{path} must be a JSON object mapping client ids to client secrets")
    return dict(raw)


def read_clients_file(path: Path) -> dict[str, ClientInfo]:
    """Read a COURIER_CLIENTS file (see the module for its shape).

    Raises:
        ValueError: unreadable or not JSON (naming the file), or an entry malformed
            (naming the file, the client id and what is wrong with it).
    """
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must be a JSON object keyed by app client id")
    clients: dict[str, ClientInfo] = {}
    for client_id, entry in raw.items():
        clients[client_id] = _entry(path, client_id, entry)
    return clients


def _entry(path: Path, client_id: str, entry: Any) -> ClientInfo:
    where = f"{path}: client {client_id!r}"
    try:
        check_client_id(client_id)  # botocore's model: 1-128 of [\w+]
    except InvalidRequestError as exc:
        raise ValueError(f"{where}: not an app client id ({exc})") from None
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: must be an object with user_pool_id (and secret, ...)")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    pool = entry.get("user_pool_id")
    if not isinstance(pool, str):
        raise ValueError(f"{where}: user_pool_id is required (a string like us-east-1_AbCdEf)")
    try:
        pool_region(pool)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    secret = entry.get("secret")
    if secret is not None and not (isinstance(secret, str) and secret):
        raise ValueError(f"{where}: secret must be a non-empty string")
    case_sensitive = entry.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise ValueError(f"{where}: case_sensitive must be true or false")
    return ClientInfo(client_id, pool, secret, case_sensitive)
