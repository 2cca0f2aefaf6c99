"""User lifecycle and teardown: GetUser, AdminDeleteUser, AdminDisableUser/AdminEnableUser,
AdminUpdateUserAttributes/UpdateUserAttributes, DeleteUserPool, DeleteUserPoolClient and
ListUserPoolClients.

A changed ``email`` (``phone_number``) becomes unverified (``email_verified`` = ``false``)
unless the same call sets it ``true`` (admin only), and, when the pool auto-verifies that
attribute, a code is sent to the new value, redeemable with VerifyUserAttribute (API
reference, UpdateUserAttributes: "If you update email or phone_number, Amazon Cognito
sends a verification code"; AdminUpdateUserAttributes: an administrator may set
``email_verified`` in the same call).

Such a code is an attribute verification code and counts against the user's hourly cap
of GetUserAttributeVerificationCode (:data:`.limits.CAP_OPERATION`), recorded as a resend
records its own. Past the cap the change is still made but no code is sent (the answer's
``CodeDeliveryDetailsList`` leaves it out): botocore's model lists no
LimitExceededException for either update operation, unlike ResendConfirmationCode and
GetUserAttributeVerificationCode; how Cognito counts is not published (a Cognito engineer,
amazon-archives/amazon-cognito-identity-js#548: "we do not share externally the exact
limits involved"), so which count an update spends is the emulator's choice: the code's
kind. Attributes whose schema says ``Mutable`` false, and ``sub``, are refused before
anything changes (:func:`.schema.check_mutable`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.common import (
    deliver,
    find_client,
    find_pool,
    parse_attributes,
    token_user,
    user_document,
)
from worker.contrib.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.contrib.emulator.limits import cap_key
from worker.contrib.emulator.schema import check_mutable, check_user_attributes

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context
    from worker.contrib.emulator.state import Pool, User

__all__ = [
    "admin_delete_user",
    "admin_disable_user",
    "admin_enable_user",
    "admin_update_user_attributes",
    "delete_user_pool",
    "delete_user_pool_client",
    "get_user",
    "list_user_pool_clients",
    "update_user_attributes",
]

_MEDIUM = {"email": "EMAIL", "phone_number": "SMS"}


def _admin_user(emu: Context, params: dict[str, Any]) -> tuple[Pool, User]:
    pool = find_pool(emu, params["UserPoolId"])
    user = pool.user_for_update(params["Username"])
    if user is None:
        raise ServiceError("UserNotFoundException", "User does not exist.")
    return pool, user


def _token_user(emu: Context, token: str) -> tuple[Pool, User]:
    """:func:`.common.token_user` (stored), refusing a disabled user's token."""
    _, pool, user = token_user(emu, token, stored=True)
    if not user.enabled:
        raise not_authorized("User is disabled.")
    return pool, user


def get_user(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The signed-in user: ``{"Username", "UserAttributes"}`` (GetUser's answer has no
    dates, status or ``Enabled``, unlike AdminGetUser's).

    Raises:
        ServiceError: NotAuthorizedException for a bad token or a disabled user.
    """
    _, user = _token_user(emu, params["AccessToken"])
    document = user_document(user, attributes_key="UserAttributes")
    return {"Username": document["Username"], "UserAttributes": document["UserAttributes"]}


def admin_delete_user(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a user and forget its outstanding codes: a user made later under the same
    name redeems only the codes sent to it (API reference, AdminDeleteUser: "Deletes a
    user profile in your user pool")."""
    pool, user = _admin_user(emu, params)
    pool.remove_user(user)
    emu.codebook.forget(pool.id, user.username)
    return {}


def admin_disable_user(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Disable a user: InitiateAuth and token calls answer "User is disabled."."""
    _, user = _admin_user(emu, params)
    user.enabled = False
    user.touch()
    return {}


def admin_enable_user(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Enable a disabled user."""
    _, user = _admin_user(emu, params)
    user.enabled = True
    user.touch()
    return {}


def _update(
    emu: Context, operation: str, pool: Pool, user: User, params: dict[str, Any], *, admin: bool
) -> list[dict[str, str]]:
    """Apply ``UserAttributes`` to ``user``; the CodeDeliveryDetails of the codes sent.

    Every check (``*_verified`` by a user, immutable attributes, the schema) comes before
    the first change. A code is sent only while the user's hourly cap allows it.
    """
    changes = parse_attributes(params["UserAttributes"])
    if not admin and {"email_verified", "phone_number_verified"} & set(changes):
        raise not_authorized("A client attempted to write unauthorized attribute")
    check_mutable(pool.schema, changes)
    check_user_attributes(pool.schema, changes, sign_up=False)
    changed = [
        name for name in _MEDIUM if name in changes and changes[name] != user.attributes.get(name)
    ]
    user.attributes.update(changes)
    key = cap_key(pool.id, user.username, operation)
    sent: list[dict[str, str]] = []
    for name in changed:
        if changes.get(f"{name}_verified", "").lower() == "true":
            continue
        user.attributes[f"{name}_verified"] = "false"
        if name in pool.auto_verified_attributes and emu.caps.allows(key):
            details = deliver(
                emu,
                operation=operation,
                pool=pool,
                user=user,
                client_id=None,
                medium=_MEDIUM[name],
                attribute=name,
                destination=user.attributes[name],
            )
            emu.caps.record(key)
            sent.append(details)
    pool.reindex(user)
    user.touch()
    return sent


def admin_update_user_attributes(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Change a user's attributes (see the module docstring for e-mail and phone).

    Raises:
        ServiceError: UserNotFoundException; InvalidParameterException for attributes
            outside the schema.
    """
    pool, user = _admin_user(emu, params)
    _update(emu, "AdminUpdateUserAttributes", pool, user, params, admin=True)
    return {}


def update_user_attributes(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Change the signed-in user's attributes; ``{"CodeDeliveryDetailsList": [...]}``.

    Raises:
        ServiceError: NotAuthorizedException for a bad token, a disabled user or a
            ``*_verified`` attribute; InvalidParameterException for attributes outside
            the schema.
    """
    pool, user = _token_user(emu, params["AccessToken"])
    sent = _update(emu, "UpdateUserAttributes", pool, user, params, admin=False)
    return {"CodeDeliveryDetailsList": sent}


def delete_user_pool(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a pool with its clients and users (ResourceNotFoundException if unknown)."""
    pool = find_pool(emu, params["UserPoolId"])
    emu.directory.remove_pool(pool.id)
    return {}


def delete_user_pool_client(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete an app client of the given pool."""
    pool = find_pool(emu, params["UserPoolId"])
    client = find_client(emu, params["ClientId"])
    if client.pool_id != pool.id:
        raise ServiceError("ResourceNotFoundException", f"Client {client.id} does not exist.")
    emu.directory.remove_client(client)
    return {}


def list_user_pool_clients(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """``{"UserPoolClients": [{"ClientId", "UserPoolId", "ClientName"}], "NextToken"?}``,
    in creation order; ``MaxResults`` (1-60, default 60) a page, ``NextToken`` the next.

    Raises:
        ServiceError: ResourceNotFoundException for an unknown pool;
            InvalidParameterException for a NextToken this listing did not give.
    """
    pool = find_pool(emu, params["UserPoolId"])
    size = int(params.get("MaxResults") or 60)
    token = params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise invalid_parameter("Invalid pagination token.") from None
    clients = list(pool.clients.values())
    page = clients[start : start + size]
    result: dict[str, Any] = {
        "UserPoolClients": [
            {"ClientId": c.id, "UserPoolId": pool.id, "ClientName": c.name} for c in page
        ]
    }
    if start + size < len(clients):
        result["NextToken"] = str(start + size)
    return result
