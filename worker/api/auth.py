"""Who is calling the HTTP front, and what it may do (:mod:`worker.identity.principals`).

Every route but the public ones (``/healthz``, ``/metrics``, ``/openapi.json``, ``/docs``,
``/redoc``) depends on :func:`bearer_check`: ``Authorization: Bearer <token>`` names an
API principal, or the request answers 401. Then:

- a request outside the principal's scopes answers ``403 AccessDeniedException`` naming
  the missing scope (``resend``, ``verify-attribute``, ``campaigns``) or the app client
  the principal may not act for: the ``ClientId`` of a resend or a campaign, and the
  ``client_id`` claim of a verify-attribute AccessToken (read only once the token is
  verified: :func:`require_token_client`);
- a principal limited to some clients starts a campaign over a ``UserPoolId`` only when
  COURIER_CLIENTS lists that pool as its client's (:func:`require_pool`): it cannot list
  another tenant's users;
- a job or campaign recorded for another principal answers 404 exactly as one that does
  not exist (``JobNotFound`` / ``CampaignNotFound``), unless the principal holds
  ``read-all``: nothing tells a stranger that an id exists.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from worker.api.errors import ApiError
from worker.errors import (
    CampaignNotFoundError,
    ConfigurationError,
    InvalidRequestError,
    JobNotFoundError,
    TokenKeysUnavailableError,
)
from worker.identity.clients import ClientRegistry
from worker.identity.principals import Principal, Principals
from worker.identity.tokens import TokenVerifier
from worker.identity.users import token_identity
from worker.settings import Settings

__all__ = [
    "bearer_check",
    "load_principals",
    "principal_of",
    "require",
    "require_client",
    "require_pool",
    "require_token_client",
    "visible",
]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="courier"'}


def load_principals(settings: Settings) -> Principals:
    """Every principal of COURIER_API_TOKENS and COURIER_API_TOKENS_FILE.

    Raises:
        ConfigurationError: none is configured, the file is malformed, or two share a token.
    """
    try:
        principals = Principals.from_sources(
            tokens=[t.get_secret_value() for t in settings.api_tokens],
            tokens_file=settings.api_tokens_file,
        )
    except ValueError as exc:
        raise ConfigurationError(f"COURIER_API_TOKENS_FILE: {exc}") from None
    if len(principals) == 0:
        raise ConfigurationError(
            "COURIER_API_TOKENS and COURIER_API_TOKENS_FILE are empty: the HTTP front needs "
            "at least one bearer token (or run `courier api --dev` for a local run with a "
            "generated token)"
        )
    return principals


def bearer_check(settings: Settings) -> Callable[[Request], None]:
    """The dependency that finds the request's principal (``request.state.principal``).

    Raises:
        ConfigurationError: (at once) no token is configured, or the tokens file is
            malformed or two principals share a token.
    """
    principals = load_principals(settings)

    def check(request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip()
        if scheme.lower() != "bearer" or not given:
            raise ApiError(
                401,
                "MissingAuthenticationToken",
                "send the header Authorization: Bearer <token>",
                headers=_CHALLENGE,
            )
        principal = principals.find(given)
        if principal is None:
            raise ApiError(
                401,
                "UnrecognizedClientException",
                "the bearer token is not one this front accepts",
                headers=_CHALLENGE,
            )
        request.state.principal = principal

    return check


def principal_of(request: Request) -> Principal:
    """The principal :func:`bearer_check` found for ``request``."""
    principal = request.state.principal
    assert isinstance(principal, Principal)
    return principal


def require(request: Request, scope: str) -> Principal:
    """The request's principal, if it holds ``scope``.

    Raises:
        ApiError: 403 AccessDeniedException naming the missing scope.
    """
    principal = principal_of(request)
    missing = principal.missing_scope(scope)
    if missing is not None:
        raise ApiError(403, "AccessDeniedException", missing)
    return principal


def require_client(principal: Principal, client_id: object) -> None:
    """Refuse an app client the principal may not act for (a malformed id is left to the
    producer's checks, which name it).

    Raises:
        ApiError: 403 AccessDeniedException naming the client.
    """
    if not isinstance(client_id, str):
        return
    missing = principal.missing_client(client_id)
    if missing is not None:
        raise ApiError(403, "AccessDeniedException", missing)


async def require_token_client(
    principal: Principal, verifier: TokenVerifier, access_token: object
) -> None:
    """Refuse an AccessToken issued to an app client the principal may not act for.

    Only for principals limited to some clients (the others may act for all). The token is
    verified first (:func:`~worker.identity.users.token_identity`); one that fails is left
    to the producer, which refuses it naming why (400 NotAuthorizedException, or 503).

    Raises:
        ApiError: 403 AccessDeniedException naming the token's client.
    """
    if principal.clients is None or not isinstance(access_token, str):
        return
    try:
        verified = await run_in_threadpool(token_identity, verifier, access_token)
    except (InvalidRequestError, TokenKeysUnavailableError):
        return  # refused by the producer, with its own answer
    require_client(principal, verified.client_id)


def require_pool(
    principal: Principal, registry: ClientRegistry, client_id: object, user_pool_id: object
) -> None:
    """Refuse a campaign over a user pool that is not the principal's client's own.

    Only for principals limited to some clients: the pool must be the one COURIER_CLIENTS
    lists for ``client_id`` (an unlisted pool is refused too: listing a pool's users is
    reading another tenant's data unless the registry ties the pool to the client).

    Raises:
        ApiError: 403 AccessDeniedException naming the pool and the client.
    """
    if principal.clients is None or not isinstance(user_pool_id, str):
        return
    if not isinstance(client_id, str):
        return
    listed = registry.lookup(client_id).user_pool_id
    if listed != user_pool_id:
        raise ApiError(
            403,
            "AccessDeniedException",
            f"the API principal {principal.name!r} may not list the user pool "
            f"{user_pool_id!r}: COURIER_CLIENTS does not list it as the pool of the app "
            f"client {client_id!r}",
        )


def visible(request: Request, owner: str | None, *, what: str, ident: str) -> None:
    """Refuse to show a job or campaign recorded for another principal, as if it did not exist.

    Raises:
        JobNotFoundError | CampaignNotFoundError: the principal may not see it.
    """
    if principal_of(request).may_read(owner):
        return
    if what == "job":
        raise JobNotFoundError(f"no job {ident!r}: never submitted, or expired")
    raise CampaignNotFoundError(f"no campaign {ident} (never created, or expired)")
