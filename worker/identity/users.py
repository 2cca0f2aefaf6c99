"""Whom the per-user guard counts a call against: Cognito's user, as closely as we can name it.

Cognito caps each user at 5 calls per operation per rolling hour (DESIGN.md; the cap is
counted per user *in the pool*, whichever app client the call came through: public
report aws-amplify/amplify-js#8013). The guard (:mod:`worker.guard`) hashes the keys
built here before they reach Redis.

Keys:

- ResendConfirmationCode: ``"pool:<user pool id>|<username>"`` when the registry
  (:mod:`worker.identity.clients`) knows the client's pool, else
  ``"client:<client id>|<username>"``; the username is case-folded unless the client is
  declared ``case_sensitive``.
- GetUserAttributeVerificationCode: ``"<token iss>|<token username>"`` (the issuer URL
  ends with the pool id).

Where the key is coarser (over-counts: safe, a call may be skipped that Cognito would
have allowed) or finer (under-counts: Cognito may answer LimitExceededException, which the
worker records as a permanent ``failed``) than Cognito's count:

=====================================================  =========  ============================
case                                                   key is     consequence
=====================================================  =========  ============================
client's pool unknown (only in COURIER_CLIENT_SECRETS  finer      two clients of one pool
or unlisted)                                                      count apart: list the pool
                                                                  in COURIER_CLIENTS
case-sensitive pool not declared ``case_sensitive``    coarser    ``bob``/``Bob`` share 5
pool declared ``case_sensitive`` but is not            finer      ``bob``/``Bob`` count apart
``casefold`` folds more than Cognito (``ß`` -> ``ss``) coarser    such names share a count
user addressed by an alias (e-mail, phone) or sub in   finer      each spelling counts apart
ResendConfirmationCode's Username
same user through both operations                      finer      as Cognito: per operation
verify: token without ``username`` (``sub`` used)      finer      only for forged/odd tokens
verify: token not a JWT (hash of the token)            finer      Cognito refuses such tokens
=====================================================  =========  ============================
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from worker.identity.clients import ClientInfo

__all__ = [
    "resend_user_key",
    "token_issuer",
    "user_key_for_access_token",
]


def resend_user_key(client: ClientInfo, username: str) -> str:
    """The key of ``username`` for ResendConfirmationCode through ``client`` (see the module).

    ``"pool:us-east-1_AbC|alice"`` for ``Alice`` through any client of that pool;
    ``"client:<id>|alice"`` when the client's pool is unknown.
    """
    return f"{client.counting_scope}|{client.fold(username)}"


def user_key_for_access_token(token: str) -> str:
    """The user an AccessToken belongs to, as ``"iss|username"`` (or ``"iss|sub"``).

    Reads the JWT payload (the base64url middle part) WITHOUT verifying the signature:
    the key only spreads calls over users, and Cognito itself rejects a forged token. When
    the token is not a decodable JWT with an issuer and a username or sub, the key is
    ``"sha256:" + sha256(token)`` so one bad token still counts as one user. The token
    itself never appears in the result, in a log or in an exception.
    """
    claims = _jwt_claims(token)
    if claims is not None:
        issuer = claims.get("iss")
        subject = claims.get("username") or claims.get("cognito:username") or claims.get("sub")
        if isinstance(issuer, str) and issuer and isinstance(subject, str) and subject:
            return f"{issuer}|{subject}"
    return "sha256:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _jwt_claims(token: str) -> dict[str, object] | None:
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def token_issuer(token: str) -> str | None:
    """The ``iss`` claim of an AccessToken (read unverified, as above), or None."""
    claims = _jwt_claims(token)
    issuer = None if claims is None else claims.get("iss")
    return issuer if isinstance(issuer, str) and issuer else None
