"""Public (unsigned) set-up operations: SignUp, and InitiateAuth with USER_PASSWORD_AUTH
or REFRESH_TOKEN_AUTH."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.common import (
    check_password,
    check_secret_hash,
    deliver,
    delivery_target,
    existing_user_message,
    find_client,
    new_user,
    parse_attributes,
)
from worker.contrib.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.contrib.emulator.schema import check_user_attributes
from worker.contrib.emulator.tokens import RefreshGrant, TokenError

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context
    from worker.contrib.emulator.state import AppClient, Pool, User

__all__ = ["initiate_auth", "sign_up"]


def sign_up(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Register an UNCONFIRMED user and send it a confirmation code (recorded).

    The name is checked against the pool's case rule and username attributes (see
    :mod:`worker.contrib.emulator.state`): in a case-insensitive pool ``ALICE`` is refused when
    ``alice`` exists, with UsernameExistsException.
    """
    client = find_client(emu, params["ClientId"])
    username: str = params["Username"]
    check_secret_hash(client, username, params.get("SecretHash"))
    pool = emu.directory.pools[client.pool_id]
    if pool.get_user(username) is not None:
        raise ServiceError(
            "UsernameExistsException", existing_user_message(pool, username, admin=False)
        )
    password: str = params.get("Password") or ""
    user = new_user(
        pool,
        username,
        sub=emu.directory.new_sub(),
        status="UNCONFIRMED",
        password=password,
        attributes=parse_attributes(params.get("UserAttributes")),
    )
    check_user_attributes(pool.schema, user.attributes, sign_up=True)
    check_password(pool, password)
    pool.add_user(user)
    result: dict[str, Any] = {"UserConfirmed": False, "UserSub": user.sub}
    target = delivery_target(pool, user)
    if target is not None:
        medium, attribute, destination = target
        result["CodeDeliveryDetails"] = deliver(
            emu,
            operation="SignUp",
            pool=pool,
            user=user,
            client_id=client.id,
            medium=medium,
            attribute=attribute,
            destination=destination,
        )
    return result


def initiate_auth(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH (alias REFRESH_TOKEN).

    USER_PASSWORD_AUTH answers tokens and a refresh token for a confirmed user with the
    right password. REFRESH_TOKEN_AUTH takes ``REFRESH_TOKEN`` (and, for a client with a
    secret, ``SECRET_HASH`` computed with the pool's username, which is the UUID in a
    pool with UsernameAttributes) and answers new ID and access tokens without a refresh
    token, keeping the sign-in's ``auth_time`` and ``origin_jti`` (developer guide,
    "Using the access token"; API reference, InitiateAuth AuthParameters). A refresh
    token that is not live, or belongs to another client, answers NotAuthorizedException
    "Invalid Refresh Token." (Cognito's wire answer in aws/aws-sdk-cpp#1789).
    """
    client = find_client(emu, params["ClientId"])
    flow = params["AuthFlow"]
    auth = params.get("AuthParameters") or {}
    if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
        return _refresh(emu, client, auth)
    if flow != "USER_PASSWORD_AUTH":
        raise invalid_parameter(
            f"The emulator supports only USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH, not {flow}."
        )
    flows = client.explicit_auth_flows
    if flows and not {"ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH"} & set(flows):
        raise invalid_parameter("USER_PASSWORD_AUTH flow not enabled for this client")
    return password_parameters_sign_in(emu, client, auth)


def password_parameters_sign_in(
    emu: Context, client: AppClient, auth: dict[str, Any]
) -> dict[str, Any]:
    """:func:`password_sign_in` with the flow's ``AuthParameters``: USERNAME and PASSWORD
    required, SECRET_HASH checked for a client with a secret.

    Raises:
        ServiceError: InvalidParameterException "Missing required parameter X";
            NotAuthorizedException for a SecretHash; the errors of :func:`password_sign_in`.
    """
    for required in ("USERNAME", "PASSWORD"):
        if not auth.get(required):
            raise invalid_parameter(f"Missing required parameter {required}")
    username = str(auth["USERNAME"])
    check_secret_hash(client, username, auth.get("SECRET_HASH"), auth_parameter=True)
    return password_sign_in(emu, client, username, str(auth["PASSWORD"]))


def password_sign_in(
    emu: Context, client: AppClient, username: str, password: str
) -> dict[str, Any]:
    """Sign ``username`` in with ``password`` through ``client`` (the checks after the
    flow's own): tokens and a refresh token, or the NEW_PASSWORD_REQUIRED challenge with a
    ``Session`` that RespondToAuthChallenge redeems (:mod:`.signin`).

    Raises:
        ServiceError: UserNotFoundException (NotAuthorizedException behind
            PreventUserExistenceErrors), NotAuthorizedException "Incorrect username or
            password." / "User is disabled.", UserNotConfirmedException.
    """
    pool = emu.directory.pools[client.pool_id]
    user = pool.get_user(username)
    if user is None:
        if client.hides_missing_users:
            raise not_authorized("Incorrect username or password.")
        raise ServiceError("UserNotFoundException", "User does not exist.")
    if not secrets.compare_digest(user.password.encode(), password.encode()):
        raise not_authorized("Incorrect username or password.")
    if not user.enabled:
        raise not_authorized("User is disabled.")
    if user.status == "UNCONFIRMED":
        raise ServiceError("UserNotConfirmedException", "User is not confirmed.")
    if user.status == "FORCE_CHANGE_PASSWORD":
        session = secrets.token_urlsafe(48)
        emu.challenges[session] = (pool.id, client.id, user.username)
        return {
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": session,
            "ChallengeParameters": {"USER_ID_FOR_SRP": user.username},
        }
    return signed_in(emu, pool, client, user)


def signed_in(emu: Context, pool: Pool, client: AppClient, user: User) -> dict[str, Any]:
    """The answer of a completed sign-in: ID and access tokens and a refresh token."""
    result = _tokens(emu, pool, client, user, grant=None)
    result["AuthenticationResult"]["RefreshToken"] = emu.tokens.new_refresh_token(
        pool_id=pool.id,
        client_id=client.id,
        username=user.username,
        access_token=result["AuthenticationResult"]["AccessToken"],
    )
    return result


def _refresh(emu: Context, client: AppClient, auth: dict[str, Any]) -> dict[str, Any]:
    flows = client.explicit_auth_flows
    if (
        flows
        and not {"ALLOW_REFRESH_TOKEN_AUTH"} & set(flows)
        and any(f.startswith("ALLOW_") for f in flows)
    ):
        raise invalid_parameter("REFRESH_TOKEN_AUTH flow not enabled for this client")
    token = auth.get("REFRESH_TOKEN")
    if not token:
        raise invalid_parameter("Missing required parameter REFRESH_TOKEN")
    try:
        grant = emu.tokens.refresh_grant(str(token), client.id)
    except TokenError as exc:
        raise not_authorized(str(exc)) from None
    pool = emu.directory.pools[grant.pool_id]
    user = pool.get_user(grant.username)
    if user is None:
        raise not_authorized("Invalid Refresh Token.")
    check_secret_hash(client, user.username, auth.get("SECRET_HASH"), auth_parameter=True)
    if not user.enabled:
        raise not_authorized("User is disabled.")
    return _tokens(emu, pool, client, user, grant=grant)


_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86_400}


def _lifetime(emu: Context, client: AppClient, setting: str, unit_key: str) -> float:
    """A token lifetime in seconds: the client's ``AccessTokenValidity`` / ``IdTokenValidity``
    in its ``TokenValidityUnits`` (default hours, API reference CreateUserPoolClient), else
    the emulator's ``access_token_lifetime_seconds``."""
    value = client.settings.get(setting)
    if value is None:
        return emu.config.access_token_lifetime_seconds
    unit = (client.settings.get("TokenValidityUnits") or {}).get(unit_key, "hours")
    return float(value) * _UNIT_SECONDS.get(unit, 3600)


def _tokens(
    emu: Context, pool: Pool, client: AppClient, user: User, *, grant: RefreshGrant | None
) -> dict[str, Any]:
    lifetime = _lifetime(emu, client, "AccessTokenValidity", "AccessToken")
    access, identity = emu.tokens.issue(
        pool_id=pool.id,
        client_id=client.id,
        username=user.username,
        sub=user.sub,
        attributes=user.attributes,
        lifetime_seconds=lifetime,
        id_lifetime_seconds=_lifetime(emu, client, "IdTokenValidity", "IdToken"),
        grant=grant,
    )
    return {
        "ChallengeParameters": {},
        "AuthenticationResult": {
            "AccessToken": access,
            "ExpiresIn": max(1, round(lifetime)),
            "TokenType": "Bearer",
            "IdToken": identity,
        },
    }
