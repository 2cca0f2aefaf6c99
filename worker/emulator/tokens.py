"""JWTs shaped like Cognito's, signed with HMAC-SHA256 under a key of this emulator run.

Access tokens carry ``sub``, ``username``, ``client_id``, ``token_use=access``, ``iss``
(``https://cognito-idp.<region>.amazonaws.com/<pool_id>``), ``iat`` and ``exp``. Only
tokens this run issued verify; an expired one is reported as such.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["AccessClaims", "TokenError", "TokenIssuer"]

_HEADER = {"alg": "HS256", "kid": "cognito-courier-emulator", "typ": "JWT"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """Raised when a token is not one this run issued (``expired`` False) or has expired."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class AccessClaims:
    """What the emulator needs from a verified access token."""

    pool_id: str
    username: str
    client_id: str
    sub: str


class TokenIssuer:
    """Issues and verifies tokens for one emulator run."""

    def __init__(self, *, region: str, key: bytes | None = None) -> None:
        self._region = region
        self._key = key or os.urandom(32)
        self._header = _b64url(json.dumps(_HEADER, separators=(",", ":")).encode())

    def _sign(self, payload: dict[str, Any]) -> str:
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        signing_input = f"{self._header}.{body}"
        digest = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(digest)}"

    def issuer(self, pool_id: str) -> str:
        """The ``iss`` claim of tokens for ``pool_id``."""
        region = pool_id.split("_", 1)[0] if "_" in pool_id else self._region
        return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"

    def issue(
        self,
        *,
        pool_id: str,
        client_id: str,
        username: str,
        sub: str,
        attributes: dict[str, str],
        lifetime_seconds: float,
    ) -> tuple[str, str]:
        """A fresh (access token, id token) pair valid for ``lifetime_seconds``."""
        clock = time.time()
        now = int(clock)
        # whole seconds as Cognito writes them; a fractional lifetime (tests) stays exact
        exp: float = (
            math.ceil(clock + lifetime_seconds)
            if float(lifetime_seconds).is_integer()
            else round(clock + lifetime_seconds, 3)
        )
        event_id = str(uuid.uuid4())
        common = {"sub": sub, "iss": self.issuer(pool_id), "event_id": event_id}
        access = {
            **common,
            "client_id": client_id,
            "origin_jti": str(uuid.uuid4()),
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "exp": exp,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        identity = {
            **common,
            **{k: v for k, v in attributes.items() if k in ("email", "phone_number")},
            "aud": client_id,
            "cognito:username": username,
            "token_use": "id",
            "auth_time": now,
            "exp": exp,
            "iat": now,
        }
        return self._sign(access), self._sign(identity)

    def verify_access(self, token: str) -> AccessClaims:
        """The claims of ``token``; raises :class:`TokenError` when invalid or expired."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("Invalid Access Token")
        signing_input = f"{parts[0]}.{parts[1]}"
        expected = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        try:
            signature = _unb64url(parts[2])
            payload = json.loads(_unb64url(parts[1]))
        except ValueError:
            raise TokenError("Invalid Access Token") from None
        if not hmac.compare_digest(signature, expected) or not isinstance(payload, dict):
            raise TokenError("Invalid Access Token")
        if payload.get("token_use") != "access":
            raise TokenError("Invalid Access Token")
        if float(payload.get("exp", 0)) <= time.time():
            raise TokenError("Access Token has expired", expired=True)
        pool_id = str(payload["iss"]).rsplit("/", 1)[-1]
        return AccessClaims(
            pool_id=pool_id,
            username=str(payload["username"]),
            client_id=str(payload["client_id"]),
            sub=str(payload["sub"]),
        )
