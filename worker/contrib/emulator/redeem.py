"""Redeeming codes: ConfirmSignUp and VerifyUserAttribute, and the book of outstanding codes.

Every code :func:`~worker.contrib.emulator.common.deliver` sends is written in the run's
:class:`.codebook.CodeBook` under ``(pool id, username, purpose)``; the purpose is ``"signup"`` for
SignUp and ResendConfirmationCode, ``"verify:<attribute>"`` for
GetUserAttributeVerificationCode.

Which code is accepted: only the newest of a purpose. A resend replaces the code before
it, which then answers CodeMismatchException. The API reference of ResendConfirmationCode
asks the app to send "their new confirmation code" in ConfirmSignUp; no source found this
session says that an earlier code stays valid, so the emulator takes the strict reading.

Expiry: a code older than :data:`.codebook.CODE_LIFETIME_SECONDS` answers
ExpiredCodeException: "The code or link is valid for 24 hours" (Cognito developer guide,
"Signing up and confirming user accounts", state Confirmed); the emulator applies the
same lifetime to attribute codes.

Wrong attempts: after :data:`.codebook.WRONG_ATTEMPT_LIMIT` wrong codes for one purpose, further
calls answer LimitExceededException with Cognito's "Attempt limit exceeded" message until
a new code is sent (the number 5 is the emulator's; Cognito does not publish it).

Forgetting: AdminConfirmSignUp forgets the user's sign-up code (the user is CONFIRMED, so
ConfirmSignUp answers NotAuthorizedException "User cannot be confirmed. Current status is
CONFIRMED" anyway); AdminDeleteUser forgets every code of the user, so a new user of the
same name never redeems its predecessor's code (API reference, AdminDeleteUser: it
deletes the user); a reset of the emulator forgets every code with the deliveries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.codebook import SIGNUP
from worker.contrib.emulator.common import check_secret_hash, find_client, token_user
from worker.contrib.emulator.errors import ServiceError, invalid_parameter, not_authorized

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context

__all__ = ["confirm_sign_up", "verify_user_attribute"]


def confirm_sign_up(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Confirm an UNCONFIRMED user with the newest sign-up code sent to them.

    The user becomes CONFIRMED and the attribute the code went to (``email`` or
    ``phone_number``) becomes verified. ``ForceAliasCreation`` is accepted and has no
    effect: the emulator does not model alias attributes (only UsernameAttributes).

    Only an UNCONFIRMED user can be confirmed; any other status (CONFIRMED,
    FORCE_CHANGE_PASSWORD, RESET_REQUIRED, ...) answers NotAuthorizedException "User
    cannot be confirmed. Current status is <STATUS>", whatever the code. API reference,
    ConfirmSignUp: "Local users who signed up in your user pool are the only type of user
    who can confirm sign-up with a code. ... users created with the AdminCreateUser API
    operation ... do not receive a confirmation code"; the wording is Cognito's answer as
    applications match it, for CONFIRMED and for FORCE_CHANGE_PASSWORD users.

    Raises:
        ServiceError: NotAuthorizedException for a bad SecretHash or a user that is not
            UNCONFIRMED; UserNotFoundException for a missing user; the errors of
            :meth:`.codebook.CodeBook.redeem`.
    """
    client = find_client(emu, params["ClientId"])
    username: str = params["Username"]
    check_secret_hash(client, username, params.get("SecretHash"))
    pool = emu.directory.pools[client.pool_id]
    user = pool.user_for_update(username)
    if user is None:
        raise ServiceError("UserNotFoundException", "Username/client id combination not found.")
    if user.status != "UNCONFIRMED":
        raise not_authorized(f"User cannot be confirmed. Current status is {user.status}")
    emu.codebook.redeem((pool.id, user.username, SIGNUP), params["ConfirmationCode"])
    user.status = "CONFIRMED"
    for attribute in ("phone_number", "email"):
        if attribute in pool.auto_verified_attributes and user.attributes.get(attribute):
            user.attributes[f"{attribute}_verified"] = "true"
            break
    user.touch()
    return {}


def verify_user_attribute(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Mark the signed-in user's ``email`` or ``phone_number`` verified with its code.

    Raises:
        ServiceError: NotAuthorizedException for a bad token; UserNotFoundException;
            InvalidParameterException for an attribute that cannot be verified; the
            errors of :meth:`.codebook.CodeBook.redeem`.
    """
    _, pool, user = token_user(emu, params["AccessToken"], stored=True)
    name: str = params["AttributeName"]
    if name not in ("email", "phone_number"):
        raise invalid_parameter(f"Attribute {name} cannot be verified.")
    emu.codebook.redeem((pool.id, user.username, f"verify:{name}"), params["Code"])
    user.attributes[f"{name}_verified"] = "true"
    user.touch()
    return {}
