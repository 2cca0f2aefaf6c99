"""Server-side sign-in: AdminInitiateAuth (ADMIN_USER_PASSWORD_AUTH, ADMIN_NO_SRP_AUTH) and
the NEW_PASSWORD_REQUIRED challenge answered with RespondToAuthChallenge or
AdminRespondToAuthChallenge (the "admin creates a user, the user sets a password" flow).

USER_SRP_AUTH and the other challenges (SMS_MFA, SOFTWARE_TOKEN_MFA, CUSTOM_CHALLENGE,
PASSWORD_VERIFIER) are not served. A Session is good for one answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.auth import password_parameters_sign_in, signed_in
from worker.contrib.emulator.common import (
    check_password,
    check_secret_hash,
    find_client,
    find_pool,
)
from worker.contrib.emulator.errors import invalid_parameter, not_authorized

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context

__all__ = ["admin_initiate_auth", "admin_respond_to_auth_challenge", "respond_to_auth_challenge"]

_ADMIN_FLOWS = ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH")


def admin_initiate_auth(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Sign a user in with USERNAME and PASSWORD from a backend (IAM-signed).

    Raises:
        ServiceError: ResourceNotFoundException for an unknown pool or client;
            InvalidParameterException for another flow, a client of another pool or a
            missing parameter; the errors of :func:`.auth.password_parameters_sign_in`.
    """
    pool = find_pool(emu, params["UserPoolId"])
    client = find_client(emu, params["ClientId"])
    if client.pool_id != pool.id:
        raise invalid_parameter(f"Client {client.id} does not belong to pool {pool.id}.")
    flow = params["AuthFlow"]
    if flow not in _ADMIN_FLOWS:
        raise invalid_parameter(
            f"The emulator supports only {' and '.join(_ADMIN_FLOWS)} here, not {flow}."
        )
    return password_parameters_sign_in(emu, client, params.get("AuthParameters") or {})


def _answer(emu: Context, client_id: str, params: dict[str, Any]) -> dict[str, Any]:
    if params["ChallengeName"] != "NEW_PASSWORD_REQUIRED":
        raise invalid_parameter(
            f"The emulator answers only NEW_PASSWORD_REQUIRED, not {params['ChallengeName']}."
        )
    session = emu.challenges.pop(str(params.get("Session") or ""), None)
    if session is None or session[1] != client_id:
        raise not_authorized("Invalid session for the user.")
    pool = emu.directory.pools.get(session[0])
    user = pool.user_for_update(session[2]) if pool is not None else None
    if pool is None or user is None:
        raise not_authorized("Invalid session for the user.")
    responses = params.get("ChallengeResponses") or {}
    client = emu.directory.clients[client_id]
    check_secret_hash(client, user.username, responses.get("SECRET_HASH"), auth_parameter=True)
    password = responses.get("NEW_PASSWORD")
    if not password:
        raise invalid_parameter("Missing required parameter NEW_PASSWORD")
    check_password(pool, str(password))
    user.password = str(password)
    user.status = "CONFIRMED"
    user.touch()
    return signed_in(emu, pool, client, user)


def respond_to_auth_challenge(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Answer NEW_PASSWORD_REQUIRED with ``ChallengeResponses.NEW_PASSWORD``: the user
    becomes CONFIRMED and gets tokens.

    Raises:
        ServiceError: NotAuthorizedException "Invalid session for the user." for an
            unknown, used or foreign Session; InvalidPasswordException for a password
            the pool's policy refuses; InvalidParameterException.
    """
    client = find_client(emu, params["ClientId"])
    return _answer(emu, client.id, params)


def admin_respond_to_auth_challenge(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """:func:`respond_to_auth_challenge` from a backend (IAM-signed; ``UserPoolId`` too)."""
    pool = find_pool(emu, params["UserPoolId"])
    client = find_client(emu, params["ClientId"])
    if client.pool_id != pool.id:
        raise invalid_parameter(f"Client {client.id} does not belong to pool {pool.id}.")
    return _answer(emu, client.id, params)
