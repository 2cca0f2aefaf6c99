"""JWTs as Cognito issues them: RS256, a JWKS per pool, Cognito's claims, refresh tokens.

Sources: developer guide, "Using the ID token" and "Using the access token" (header
``{"kid", "alg": "RS256"}``; the access token's ``kid`` differs from the ID token's
because "different keys are used to sign ID tokens and access tokens"; payload claims;
``auth_time`` and ``origin_jti`` keep the original sign-in's values on refreshes) and
"Verifying a JSON web token" (the public keys at
``https://cognito-idp.<region>.amazonaws.com/<userPoolId>/.well-known/jwks.json``).

Claims. Access token: ``sub``, ``iss``, ``client_id``, ``origin_jti``, ``event_id``,
``token_use`` ``access``, ``scope`` ``aws.cognito.signin.user.admin``, ``auth_time``,
``exp``, ``iat``, ``jti``, ``username`` (the pool's username: a UUID in a pool with
UsernameAttributes). ID token: ``sub``, the user's attributes (``email_verified`` and
``phone_number_verified`` as JSON booleans, custom attributes as ``custom:<name>``;
developer-only attributes are never shown), ``iss``, ``cognito:username``,
``origin_jti``, ``aud`` (the client id), ``event_id``, ``token_use`` ``id``,
``auth_time``, ``exp``, ``iat``, ``jti``.

Keys: two RSA-2048 keys (one for ID tokens, one for access tokens) are generated once per
process, when the first emulator starts (key generation takes a noticeable fraction of a
second, too slow to repeat for every test's emulator); every run and pool gets its own
``kid`` pair, derived from a random nonce of the run and the pool id, and a pool's JWKS
lists only its own two keys — a token of one pool does not verify
against another pool's JWKS by ``kid`` (Cognito has distinct key material per pool too;
the emulator shares it to keep pool creation fast: see docs/emulator.md).

Refresh tokens are opaque here (Cognito's are encrypted JWTs nobody but Cognito reads):
a random string mapped to its sign-in, valid 30 days (Cognito's default refresh token
validity, API reference CreateUserPoolClient ``RefreshTokenValidity``), for the app
client that got it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["AccessClaims", "RefreshGrant", "TokenError", "TokenIssuer"]

_REFRESH_VALIDITY_SECONDS = 30 * 86_400
_VERIFIED_FLAGS = frozenset({"email_verified", "phone_number_verified"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(number: int) -> str:
    return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def _expiry(clock: float, lifetime_seconds: float) -> float:
    """``exp``: whole seconds as Cognito writes them; a fractional lifetime (tests) stays
    exact to the millisecond."""
    if float(lifetime_seconds).is_integer():
        return math.ceil(clock + lifetime_seconds)
    return round(clock + lifetime_seconds, 3)


@functools.cache
def _process_keys() -> dict[str, rsa.RSAPrivateKey]:
    """This process's two signing keys, generated on first use."""
    return {
        use: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for use in ("id", "access")
    }


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


@dataclass(frozen=True)
class RefreshGrant:
    """The sign-in a refresh token continues."""

    pool_id: str
    client_id: str
    username: str
    auth_time: int
    origin_jti: str
    expires: float


class TokenIssuer:
    """Issues and verifies the tokens of one emulator run; serves each pool's JWKS."""

    def __init__(self, *, region: str) -> None:
        self._region = region
        self._run = os.urandom(16)
        self._keys = _process_keys()
        self._refresh: dict[str, RefreshGrant] = {}

    def kid(self, pool_id: str, use: str) -> str:
        """The ``kid`` of ``pool_id``'s ``use`` (``id`` or ``access``) key."""
        digest = hashlib.sha256(self._run + f"{pool_id}/{use}".encode()).digest()
        return base64.b64encode(digest).decode("ascii")

    def issuer(self, pool_id: str) -> str:
        """The ``iss`` claim of tokens for ``pool_id`` (its Region is the id's prefix)."""
        region = pool_id.split("_", 1)[0] if "_" in pool_id else self._region
        return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"

    def jwks(self, pool_id: str) -> dict[str, Any]:
        """The JSON Web Key Set served at ``/<pool_id>/.well-known/jwks.json``."""
        keys = []
        for use in ("id", "access"):
            numbers = self._keys[use].public_key().public_numbers()
            keys.append(
                {
                    "alg": "RS256",
                    "e": _int_b64(numbers.e),
                    "kid": self.kid(pool_id, use),
                    "kty": "RSA",
                    "n": _int_b64(numbers.n),
                    "use": "sig",
                }
            )
        return {"keys": keys}

    def _sign(self, pool_id: str, use: str, payload: dict[str, Any]) -> str:
        header = {"kid": self.kid(pool_id, use), "alg": "RS256"}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(payload, separators=(",", ":")).encode())
        )
        signature = self._keys[use].sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"

    def issue(
        self,
        *,
        pool_id: str,
        client_id: str,
        username: str,
        sub: str,
        attributes: dict[str, str],
        lifetime_seconds: float,
        id_lifetime_seconds: float | None = None,
        grant: RefreshGrant | None = None,
    ) -> tuple[str, str]:
        """A fresh (access token, ID token) pair valid for ``lifetime_seconds`` (the ID
        token for ``id_lifetime_seconds`` when given).

        ``grant`` (a refresh) keeps the original ``auth_time`` and ``origin_jti``.
        """
        clock = time.time()
        now = int(clock)
        exp = _expiry(clock, lifetime_seconds)
        id_exp = exp if id_lifetime_seconds is None else _expiry(clock, id_lifetime_seconds)
        auth_time = grant.auth_time if grant else now
        origin_jti = grant.origin_jti if grant else str(uuid.uuid4())
        event_id = str(uuid.uuid4())
        issuer = self.issuer(pool_id)
        access = {
            "sub": sub,
            "iss": issuer,
            "client_id": client_id,
            "origin_jti": origin_jti,
            "event_id": event_id,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": auth_time,
            "exp": exp,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        shown: dict[str, Any] = {
            name: (value == "true") if name in _VERIFIED_FLAGS else value
            for name, value in attributes.items()
            if not name.startswith("dev:") and name != "sub"
        }
        identity = {
            "sub": sub,
            **shown,
            "iss": issuer,
            "cognito:username": username,
            "origin_jti": origin_jti,
            "aud": client_id,
            "event_id": event_id,
            "token_use": "id",
            "auth_time": auth_time,
            "exp": id_exp,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        return self._sign(pool_id, "access", access), self._sign(pool_id, "id", identity)

    def new_refresh_token(
        self, *, pool_id: str, client_id: str, username: str, access_token: str
    ) -> str:
        """A refresh token continuing the sign-in that issued ``access_token``."""
        claims = self._payload(access_token)
        token = secrets.token_urlsafe(96)
        self._refresh[token] = RefreshGrant(
            pool_id=pool_id,
            client_id=client_id,
            username=username,
            auth_time=int(claims["auth_time"]),
            origin_jti=str(claims["origin_jti"]),
            expires=time.time() + _REFRESH_VALIDITY_SECONDS,
        )
        return token

    def refresh_grant(self, token: str, client_id: str) -> RefreshGrant:
        """The sign-in ``token`` continues; TokenError unless it is live and ``client_id``'s."""
        grant = self._refresh.get(token)
        if grant is None or grant.client_id != client_id:
            raise TokenError("Invalid Refresh Token.")
        if grant.expires <= time.time():
            raise TokenError("Refresh Token has expired", expired=True)
        return grant

    def _payload(self, token: str) -> dict[str, Any]:
        """The payload of a token this run signed with an access key; TokenError otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("Invalid Access Token")
        try:
            header = json.loads(_unb64url(parts[0]))
            payload = json.loads(_unb64url(parts[1]))
            signature = _unb64url(parts[2])
        except ValueError:
            raise TokenError("Invalid Access Token") from None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise TokenError("Invalid Access Token")
        pool_id = str(payload.get("iss", "")).rsplit("/", 1)[-1]
        if header.get("alg") != "RS256" or header.get("kid") != self.kid(pool_id, "access"):
            raise TokenError("Invalid Access Token")
        try:
            self._keys["access"].public_key().verify(
                signature,
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise TokenError("Invalid Access Token") from None
        return payload

    def verify_access(self, token: str) -> AccessClaims:
        """The claims of ``token``; raises :class:`TokenError` when invalid or expired."""
        payload = self._payload(token)
        if payload.get("token_use") != "access":
            raise TokenError("Invalid Access Token")
        if float(payload.get("exp", 0)) <= time.time():
            raise TokenError("Access Token has expired", expired=True)
        return AccessClaims(
            pool_id=str(payload["iss"]).rsplit("/", 1)[-1],
            username=str(payload["username"]),
            client_id=str(payload["client_id"]),
            sub=str(payload["sub"]),
        )

    def clear_refresh_tokens(self) -> None:
        """Forget every refresh token (a pool reset)."""
        self._refresh.clear()
