"""Public (unsigned) set-up operations: SignUp and InitiateAuth with USER_PASSWORD_AUTH."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from worker.emulator.common import (
    check_password,
    check_secret_hash,
    deliver,
    delivery_target,
    existing_user_message,
    find_client,
    new_user,
    parse_attributes,
)
from worker.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.emulator.schema import check_user_attributes

if TYPE_CHECKING:
    from worker.emulator.core import Emulator

__all__ = ["initiate_auth", "sign_up"]


def sign_up(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """Register an UNCONFIRMED user and send it a confirmation code (recorded).

    The name is checked against the pool's case rule and username attributes (see
    :mod:`worker.emulator.state`): in a case-insensitive pool ``ALICE`` is refused when
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


def initiate_auth(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """USER_PASSWORD_AUTH: tokens for a confirmed user with the right password."""
    client = find_client(emu, params["ClientId"])
    flow = params["AuthFlow"]
    if flow != "USER_PASSWORD_AUTH":
        raise invalid_parameter(f"The emulator supports only USER_PASSWORD_AUTH, not {flow}.")
    flows = client.explicit_auth_flows
    if flows and not {"ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH"} & set(flows):
        raise invalid_parameter("USER_PASSWORD_AUTH flow not enabled for this client")
    auth = params.get("AuthParameters") or {}
    for required in ("USERNAME", "PASSWORD"):
        if not auth.get(required):
            raise invalid_parameter(f"Missing required parameter {required}")
    username = str(auth["USERNAME"])
    check_secret_hash(client, username, auth.get("SECRET_HASH"))
    pool = emu.directory.pools[client.pool_id]
    user = pool.get_user(username)
    if user is None:
        if client.hides_missing_users:
            raise not_authorized("Incorrect username or password.")
        raise ServiceError("UserNotFoundException", "User does not exist.")
    if not secrets.compare_digest(user.password.encode(), str(auth["PASSWORD"]).encode()):
        raise not_authorized("Incorrect username or password.")
    if user.status == "UNCONFIRMED":
        raise ServiceError("UserNotConfirmedException", "User is not confirmed.")
    if user.status == "FORCE_CHANGE_PASSWORD":
        return {
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": secrets.token_urlsafe(48),
            "ChallengeParameters": {"USER_ID_FOR_SRP": user.username},
        }
    lifetime = emu.config.access_token_lifetime_seconds
    access, identity = emu.tokens.issue(
        pool_id=pool.id,
        client_id=client.id,
        username=user.username,
        sub=user.sub,
        attributes=user.attributes,
        lifetime_seconds=lifetime,
    )
    return {
        "ChallengeParameters": {},
        "AuthenticationResult": {
            "AccessToken": access,
            "ExpiresIn": max(1, round(lifetime)),
            "TokenType": "Bearer",
            "RefreshToken": secrets.token_urlsafe(96),
            "IdToken": identity,
        },
    }
