"""API principals: who holds a bearer token of the HTTP front, and what it may do.

Two sources (both read once at start-up by :mod:`worker.settings`):

- ``COURIER_API_TOKENS_FILE``: a JSON object naming each token, storing only the
  SHA-256 of the token (lower-case hex), the app clients it may act for and its scopes::

      {"signup-service": {"sha256": "<hex>", "clients": ["3n4b5urk1ft4fl3mg5e62d9ado"],
                          "scopes": ["resend"]},
       "ops-console":    {"sha256": "<hex>", "clients": "*",
                          "scopes": ["resend", "verify-attribute", "campaigns", "read-all"]}}

  ``clients``: the app clients it may resend and run campaigns for (``"*"``: all).
  ``scopes``: ``resend`` (ResendConfirmationCode), ``verify-attribute``
  (GetUserAttributeVerificationCode), ``campaigns`` (start and control campaigns),
  ``read-all`` (read every principal's jobs and campaigns; without it a principal reads
  only its own).
- ``COURIER_API_TOKENS``: comma-separated tokens, each a full-access principal named
  ``api-token-<n>`` (n from 1, in the order given): all clients, all scopes.

A principal's *name* is what jobs and campaigns record; a token never is. Tokens are
looked up by comparing the SHA-256 of the presented token with every entry in constant
time (:func:`hmac.compare_digest` over all of them, so the time says nothing about which
matched).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from worker.errors import InvalidRequestError
from worker.validation import check_client_id

__all__ = ["ALL_CLIENTS", "SCOPES", "Principal", "Principals", "read_api_tokens_file"]

SCOPES: Final = ("resend", "verify-attribute", "campaigns", "read-all")
ALL_CLIENTS: Final = "*"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS: Final = frozenset({"sha256", "clients", "scopes"})


@dataclass(frozen=True)
class Principal:
    """One API principal.

    Attributes:
        name: its name (recorded on jobs and campaigns).
        sha256: the SHA-256 of its token, hex (never shown by ``repr``).
        clients: the app clients it may act for; None means all.
        scopes: what it may do (:data:`SCOPES`).
    """

    name: str
    sha256: str
    clients: frozenset[str] | None
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"Principal({self.name!r}, scopes={sorted(self.scopes)})"

    def missing_scope(self, scope: str) -> str | None:
        """None when the principal holds ``scope``, else a sentence naming what is missing."""
        if scope in self.scopes:
            return None
        return f"the API principal {self.name!r} lacks the scope {scope!r}"

    def missing_client(self, client_id: str) -> str | None:
        """None when the principal may act for ``client_id``, else a sentence naming it."""
        if self.clients is None or client_id in self.clients:
            return None
        return f"the API principal {self.name!r} may not act for the app client {client_id!r}"

    def may_read(self, owner: str | None) -> bool:
        """True when this principal may see a job or campaign recorded for ``owner``."""
        return "read-all" in self.scopes or owner == self.name


class Principals:
    """Every principal, looked up by token (see the module)."""

    def __init__(self, principals: Iterable[Principal]) -> None:
        self._all = list(principals)
        digests = [p.sha256 for p in self._all]
        if len(set(digests)) != len(digests):
            raise ValueError("two API principals have the same token")

    @classmethod
    def from_sources(cls, *, tokens: Iterable[str], tokens_file: Path | None) -> Principals:
        """COURIER_API_TOKENS (full access) plus COURIER_API_TOKENS_FILE.

        Raises:
            ValueError: the file is unreadable or an entry malformed (naming them), or two
                principals share a token.
        """
        full = [
            Principal(f"api-token-{n}", _sha256(token), None, frozenset(SCOPES))
            for n, token in enumerate(tokens, start=1)
        ]
        named = read_api_tokens_file(tokens_file) if tokens_file is not None else []
        taken = {p.name for p in full}
        for principal in named:
            if principal.name in taken:
                raise ValueError(f"{tokens_file}: the name {principal.name!r} is reserved")
        return cls([*full, *named])

    def __len__(self) -> int:
        return len(self._all)

    def named(self, name: str) -> Principal | None:
        """The principal called ``name``, or None (for browser sessions: worker.api.session)."""
        return next((p for p in self._all if p.name == name), None)

    def find(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None (every entry is compared)."""
        given = _sha256(token).encode("ascii")
        found = None
        for principal in self._all:
            if hmac.compare_digest(given, principal.sha256.encode("ascii")):
                found = principal
        return found


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_api_tokens_file(path: Path) -> list[Principal]:
    """The principals of a COURIER_API_TOKENS_FILE (format in the module).

    Raises:
        ValueError: the file cannot be read or is not such a JSON object; the message
            names the file and the entry, never a value that might be a token.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except ValueError:
        raise ValueError(f"{path}: is not UTF-8 JSON") from None
    if not isinstance(document, dict) or not document:
        raise ValueError(f"{path}: must be a non-empty JSON object {{name: entry}}")
    return [_entry(path, name, entry) for name, entry in document.items()]


def _entry(path: Path, name: str, entry: Any) -> Principal:
    where = f"{path}: principal {name!r}" if _NAME.fullmatch(name) else f"{path}: a principal"
    if not _NAME.fullmatch(name):
        raise ValueError(f"{where}: a name is 1-64 letters, digits, '.', '_' or '-'")
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: must be an object with sha256, clients and scopes")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        shown = unknown[0] if _NAME.fullmatch(unknown[0]) else "(a field name)"
        raise ValueError(f"{where}: unknown field {shown} (only sha256, clients, scopes)")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest.lower()):
        raise ValueError(
            f"{where}: sha256 must be the 64 hex digits of the token's SHA-256 "
            "(never the token itself)"
        )
    return Principal(
        name,
        digest.lower(),
        _clients(where, entry.get("clients")),
        _scopes(where, entry.get("scopes")),
    )


def _clients(where: str, value: Any) -> frozenset[str] | None:
    if value == ALL_CLIENTS:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f'{where}: clients must be "*" or a non-empty list of app client ids')
    try:
        return frozenset(check_client_id(c) for c in value)
    except InvalidRequestError as exc:
        raise ValueError(f"{where}: clients: {exc.message}") from None


def _scopes(where: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: scopes must be a non-empty list of {', '.join(SCOPES)}")
    for scope in value:
        if scope not in SCOPES:
            raise ValueError(f"{where}: scopes: each is one of {', '.join(SCOPES)}")
    return frozenset(value)
