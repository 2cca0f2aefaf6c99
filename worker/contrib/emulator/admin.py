"""Set-up operations an operator signs with IAM credentials: pools, clients, users.

How pools and clients are shown lives in :mod:`worker.contrib.emulator.documents`.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.codebook import SIGNUP
from worker.contrib.emulator.common import (
    check_password,
    existing_user_message,
    find_client,
    find_pool,
    new_user,
    parse_attributes,
    user_document,
)
from worker.contrib.emulator.documents import (
    CLIENT_ECHOED,
    POOL_ECHOED,
    client_document,
    echoed,
    pool_document,
    pool_summary,
)
from worker.contrib.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.contrib.emulator.schema import build_schema, check_user_attributes
from worker.contrib.emulator.state import DEFAULT_PASSWORD_POLICY, AppClient, Pool, User

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context

__all__ = [
    "admin_confirm_sign_up",
    "admin_create_user",
    "admin_get_user",
    "admin_set_user_password",
    "create_user_pool",
    "create_user_pool_client",
    "describe_user_pool",
    "describe_user_pool_client",
    "list_user_pools",
]


def create_user_pool(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create an empty pool (email sending COGNITO_DEFAULT unless DEVELOPER is asked).

    The pool's Region (its id's prefix, its ARN, its tokens' ``iss``) is the Region the
    client called: the SigV4 credential scope, else the Host (``cognito-idp.<region>.
    amazonaws.com``), else the emulator's ``--region``.

    ``UsernameConfiguration.CaseSensitive`` absent means case sensitive (API reference,
    UsernameConfigurationType: true "is the default value"). ``UsernameAttributes`` and
    ``AliasAttributes`` exclude each other (API reference, CreateUserPool:
    InvalidParameterException).
    """
    email_config = params.get("EmailConfiguration") or {}
    policy = dict(DEFAULT_PASSWORD_POLICY)
    policy.update((params.get("Policies") or {}).get("PasswordPolicy") or {})
    username_attributes = tuple(params.get("UsernameAttributes") or ())
    if username_attributes and params.get("AliasAttributes"):
        raise invalid_parameter(
            "Only one of the following can be set: UsernameAttributes and AliasAttributes."
        )
    username_config = params.get("UsernameConfiguration")
    region = emu.call_region
    pool = Pool(
        id=emu.directory.new_pool_id(region),
        name=params["PoolName"],
        region=region,
        auto_verified_attributes=tuple(params.get("AutoVerifiedAttributes") or ()),
        email_sending_account=email_config.get("EmailSendingAccount", "COGNITO_DEFAULT"),
        password_policy=policy,
        case_sensitive_setting=(
            None if username_config is None else bool(username_config["CaseSensitive"])
        ),
        username_attributes=username_attributes,
        schema=build_schema(params.get("Schema")),
        settings=echoed(params, POOL_ECHOED),
    )
    emu.directory.add_pool(pool)
    return {"UserPool": pool_document(pool)}


def describe_user_pool(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Describe one pool."""
    return {"UserPool": pool_document(find_pool(emu, params["UserPoolId"]))}


def list_user_pools(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """List pools, ``MaxResults`` at a time."""
    pools = list(emu.directory.pools.values())
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"]).decode())
        except ValueError:
            raise ServiceError("InvalidParameterException", "Invalid NextToken.") from None
    end = start + int(params["MaxResults"])
    result: dict[str, Any] = {"UserPools": [pool_summary(p) for p in pools[start:end]]}
    if end < len(pools):
        result["NextToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
    return result


def create_user_pool_client(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create an app client; ``GenerateSecret`` gives it a ClientSecret."""
    pool = find_pool(emu, params["UserPoolId"])
    client = AppClient(
        id=emu.directory.new_client_id(),
        name=params["ClientName"],
        pool_id=pool.id,
        secret=emu.directory.new_secret() if params.get("GenerateSecret") else None,
        explicit_auth_flows=tuple(params.get("ExplicitAuthFlows") or ()),
        prevent_user_existence_errors=params.get("PreventUserExistenceErrors") or "LEGACY",
        settings=echoed(params, CLIENT_ECHOED),
    )
    emu.directory.add_client(client)
    return {"UserPoolClient": client_document(client)}


def describe_user_pool_client(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Describe one client of a pool, secret included."""
    pool = find_pool(emu, params["UserPoolId"])
    client = find_client(emu, params["ClientId"])
    if client.pool_id != pool.id:
        raise ServiceError(
            "ResourceNotFoundException", f"User pool client {client.id} does not exist."
        )
    return {"UserPoolClient": client_document(client)}


def _existing_user(pool: Pool, username: str, *, for_update: bool = False) -> User:
    user = pool.user_for_update(username) if for_update else pool.get_user(username)
    if user is None:
        raise ServiceError("UserNotFoundException", "User does not exist.")
    return user


def admin_create_user(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create a user in FORCE_CHANGE_PASSWORD (no invitation is recorded).

    ``MessageAction=RESEND`` creates nothing: it re-sends the invitation of an existing
    user and answers that user, or UserNotFoundException for a missing one (API
    reference, AdminCreateUser: "Set to RESEND to resend the invitation message to a user
    that already exists"; moto's ``test_admin_resend_invitation_missing_user`` for the
    answer "User does not exist.").
    """
    pool = find_pool(emu, params["UserPoolId"])
    username: str = params["Username"]
    if params.get("MessageAction") == "RESEND":
        user = _existing_user(pool, username)
        return {"User": user_document(user)}
    if pool.get_user(username) is not None:
        raise ServiceError(
            "UsernameExistsException", existing_user_message(pool, username, admin=True)
        )
    password = params.get("TemporaryPassword") or "Temp-" + emu.directory.new_secret()[:12] + "1!"
    check_password(pool, password)
    user = new_user(
        pool,
        username,
        sub=emu.directory.new_sub(),
        status="FORCE_CHANGE_PASSWORD",
        password=password,
        attributes=parse_attributes(params.get("UserAttributes")),
    )
    check_user_attributes(pool.schema, user.attributes, sign_up=False)
    pool.add_user(user)
    return {"User": user_document(user)}


def admin_confirm_sign_up(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Confirm an UNCONFIRMED user; its outstanding sign-up code is forgotten.

    The confirmation the code was sent for has happened (API reference,
    AdminConfirmSignUp: "Confirms user sign-up as an administrator. ... No confirmation
    code is required."), so a later ConfirmSignUp answers as for any CONFIRMED user:
    NotAuthorizedException "User cannot be confirmed. Current status is CONFIRMED".
    """
    pool = find_pool(emu, params["UserPoolId"])
    user = _existing_user(pool, params["Username"], for_update=True)
    if user.status == "CONFIRMED":
        raise not_authorized("User cannot be confirmed. Current status is CONFIRMED")
    user.status = "CONFIRMED"
    emu.codebook.forget(pool.id, user.username, SIGNUP)
    user.touch()
    return {}


def admin_set_user_password(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Set a password; ``Permanent`` confirms the user."""
    pool = find_pool(emu, params["UserPoolId"])
    check_password(pool, params["Password"])
    user = _existing_user(pool, params["Username"], for_update=True)
    user.password = params["Password"]
    user.status = "CONFIRMED" if params.get("Permanent") else "FORCE_CHANGE_PASSWORD"
    user.touch()
    return {}


def admin_get_user(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Describe one user."""
    pool = find_pool(emu, params["UserPoolId"])
    user = _existing_user(pool, params["Username"])
    return user_document(user, attributes_key="UserAttributes")
