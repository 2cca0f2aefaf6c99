"""Verifying an AccessToken before any of its claims is trusted.

Cognito's own guidance (developer guide, "Verifying a JSON Web Token"; and the
aws-jwt-verify library it recommends) is followed step by step:

1. The token is a JWT of three base64url parts whose header names ``alg`` RS256 and a
   ``kid``.
2. ``iss`` is ``https://cognito-idp.<region>.amazonaws.com/<user pool id>``, the pool id's
   prefix being the Region (:func:`worker.identity.clients.pool_region`). Only that form is
   accepted: the keys are then fetched from a URL built here, never from one the token
   names (no ``jku``/``x5u``; an odd ``iss`` is refused before any fetch).
3. The signature verifies (RS256 only) against the key of that ``kid`` in the pool's
   JWKS, ``/<pool id>/.well-known/jwks.json`` at the Region's Cognito endpoint
   (``https://cognito-idp.<region>.amazonaws.com``) or at COURIER_COGNITO_ENDPOINT_URL
   (the emulator).
4. ``exp`` is in the future (no leeway: a token Cognito would refuse is refused), and
   ``token_use`` is ``access``.
5. When a client registry names pools (COURIER_CLIENTS), the ``client_id`` claim must be
   a listed client, and a listed client's pool must be the token's pool
   (COURIER_CLIENT_SECRETS alone lists only clients with a secret, so it checks nothing).

Keys are fetched with PyJWT's :class:`jwt.PyJWKClient` (urllib, redirects refused, a
timeout of COURIER_CONNECT_TIMEOUT_SECONDS): one per pool, its JWK set cached
:data:`JWKS_LIFESPAN_SECONDS`; a ``kid`` the cached set lacks forces at most one refetch
per :data:`REFRESH_COOLDOWN_SECONDS` (PyJWT's ``cooldown_duration``), so forged ``kid``
values cannot make it fetch in a loop. A pool whose JWKS answered 4xx (no such pool) is
refused without a fetch for the same cooldown, and at most :data:`MAX_POOLS` pools are
remembered (least recently used first out), so forged pools cannot grow memory either.

When the JWKS cannot be fetched (network fault, timeout, 5xx) the token is refused with
:class:`~worker.errors.TokenKeysUnavailableError`, a retryable refusal: nothing is
enqueued for it (the alternative, accepting the token unverified, is what let forged
tokens spend other users' caps). Every refusal message names what failed and never
quotes the token.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.error import HTTPError

import jwt

from worker.errors import NotAuthorizedError, TokenKeysUnavailableError
from worker.identity.clients import ClientRegistry, pool_region

__all__ = [
    "JWKS_LIFESPAN_SECONDS",
    "MAX_POOLS",
    "REFRESH_COOLDOWN_SECONDS",
    "TokenVerifier",
    "VerifiedToken",
    "jwks_url",
]

JWKS_LIFESPAN_SECONDS = 3600.0
"""How long a pool's fetched JWK set is used before it is fetched again (Cognito rotates
signing keys rarely; a new ``kid`` forces a refetch anyway)."""
REFRESH_COOLDOWN_SECONDS = 30.0
"""Least time between two fetches of one pool's JWKS forced by unknown ``kid`` values."""
MAX_POOLS = 64
"""Pools whose key clients (and refusals) are remembered at once."""

_ISSUER = re.compile(r"^https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/([\w-]+_[0-9a-zA-Z]+)$")
_FIELD = "AccessToken"


@dataclass(frozen=True)
class VerifiedToken:
    """The claims of an AccessToken whose signature, expiry, use and issuer were checked.

    Attributes:
        issuer: the ``iss`` claim, ``https://cognito-idp.<region>.amazonaws.com/<pool>``.
        user_pool_id: the pool that signed it.
        region: the pool's AWS Region.
        username: the ``username`` claim (the pool's username), else ``sub``.
        client_id: the app client the user signed in through.
        expires_at: ``exp``, seconds since the epoch.
    """

    issuer: str
    user_pool_id: str
    region: str
    username: str
    client_id: str
    expires_at: float

    @property
    def user_key(self) -> str:
        """Whom the per-user guard counts: ``"<iss>|<username>"``."""
        return f"{self.issuer}|{self.username}"


def jwks_url(user_pool_id: str, region: str, *, endpoint_url: str | None) -> str:
    """The pool's JWKS URL: at ``endpoint_url`` when set, else at the Region's endpoint."""
    base = endpoint_url or f"https://cognito-idp.{region}.amazonaws.com"
    return f"{base.rstrip('/')}/{user_pool_id}/.well-known/jwks.json"


class TokenVerifier:
    """Verifies AccessTokens against their pool's JWKS (see the module); thread-safe.

    Args:
        registry: the client registry (its clients are the only ones accepted when it
            lists any).
        endpoint_url: COURIER_COGNITO_ENDPOINT_URL, or None for the Regions' endpoints.
        timeout_seconds: longest one JWKS fetch may take.
    """

    def __init__(
        self,
        registry: ClientRegistry,
        *,
        endpoint_url: str | None,
        timeout_seconds: float,
    ) -> None:
        self._registry = registry
        self._endpoint_url = endpoint_url
        self._timeout = timeout_seconds
        self._clients: OrderedDict[str, jwt.PyJWKClient] = OrderedDict()
        self._refused: OrderedDict[str, float] = OrderedDict()  # pool -> monotonic time
        self._lock = threading.Lock()

    def verify(self, token: str) -> VerifiedToken:
        """The verified claims of ``token``.

        Raises:
            NotAuthorizedError: the token is malformed, unsigned or signed by another key,
                expired, not an access token, from an odd issuer or an unknown client;
                the message says which, never quoting the token.
            TokenKeysUnavailableError: the pool's JWKS could not be fetched (retryable).
        """
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _refused("is not a JWT") from None
        if header.get("alg") != "RS256":
            raise _refused("is not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refused("names no signing key (kid)")
        if unverified.get("token_use") != "access":  # refusing on a claim trusts nothing
            raise _refused("is not an access token (token_use)")
        issuer, pool_id, region = _issuer(unverified.get("iss"))
        self._check_client(unverified.get("client_id"), pool_id)
        key = self._signing_key(pool_id, region, kid)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=issuer,
                options={"require": ["exp", "iss", "token_use", "client_id"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("has expired") from None
        except jwt.InvalidSignatureError:
            raise _refused("has a signature that does not verify") from None
        except jwt.PyJWTError as exc:
            raise _refused(f"is not valid ({type(exc).__name__})") from None
        if claims.get("token_use") != "access":
            raise _refused("is not an access token (token_use)")
        username = claims.get("username") or claims.get("sub")
        if not isinstance(username, str) or not username:
            raise _refused("names no user (username, sub)")
        return VerifiedToken(
            issuer, pool_id, region, username, str(claims["client_id"]), float(claims["exp"])
        )

    def _check_client(self, client_id: object, pool_id: str) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise _refused("names no app client (client_id)")
        if not self._registry.names_pools():  # COURIER_CLIENT_SECRETS alone lists no pool
            return
        if client_id not in self._registry:
            raise _refused("was issued to an app client this deployment does not list")
        listed_pool = self._registry.lookup(client_id).user_pool_id
        if listed_pool is not None and listed_pool != pool_id:
            raise _refused("was issued by another user pool than its app client's")

    def _signing_key(self, pool_id: str, region: str, kid: str) -> jwt.PyJWK:
        client = self._client_for(pool_id, region)
        try:
            return client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            status = exc.__cause__.code if isinstance(exc.__cause__, HTTPError) else None
            if status is not None and 400 <= status < 500:
                self._refuse_pool(pool_id)
                raise _refused("names a user pool whose keys do not exist") from None
            raise TokenKeysUnavailableError(
                f"the signing keys of user pool {pool_id} cannot be fetched "
                f"({'HTTP ' + str(status) if status else type(exc.__cause__).__name__}); "
                "try again shortly"
            ) from None
        except jwt.PyJWKClientError:
            raise _refused("names a signing key (kid) its user pool does not have") from None
        except jwt.PyJWKSetError:
            raise _refused("names a user pool without usable signing keys") from None

    def _client_for(self, pool_id: str, region: str) -> jwt.PyJWKClient:
        with self._lock:
            refused_at = self._refused.get(pool_id)
            if refused_at is not None:
                if time.monotonic() - refused_at < REFRESH_COOLDOWN_SECONDS:
                    raise _refused("names a user pool whose keys do not exist")
                del self._refused[pool_id]
            client = self._clients.get(pool_id)
            if client is None:
                client = jwt.PyJWKClient(
                    jwks_url(pool_id, region, endpoint_url=self._endpoint_url),
                    cache_jwk_set=True,
                    lifespan=JWKS_LIFESPAN_SECONDS,
                    timeout=self._timeout,
                    cooldown_duration=REFRESH_COOLDOWN_SECONDS,
                )
                self._clients[pool_id] = client
                while len(self._clients) > MAX_POOLS:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(pool_id)
            return client

    def _refuse_pool(self, pool_id: str) -> None:
        with self._lock:
            self._clients.pop(pool_id, None)
            self._refused[pool_id] = time.monotonic()
            while len(self._refused) > MAX_POOLS:
                self._refused.popitem(last=False)


def _issuer(value: object) -> tuple[str, str, str]:
    """``(iss, pool id, Region)`` of an ``iss`` claim of Cognito's form."""
    match = _ISSUER.match(value) if isinstance(value, str) else None
    if match is None:
        raise _refused("has no Cognito user pool issuer (iss)")
    region, pool_id = match.groups()
    try:
        if pool_region(pool_id) != region:
            raise _refused("has an issuer whose Region is not its pool's")
    except ValueError:
        raise _refused("has no Cognito user pool issuer (iss)") from None
    return match.group(0), pool_id, region


def _refused(why: str) -> NotAuthorizedError:
    return NotAuthorizedError(_FIELD, f"not authorized: the token {why}")
