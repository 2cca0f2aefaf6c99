"""The two operations the project exists for: ResendConfirmationCode and
GetUserAttributeVerificationCode, with Cognito's checks in Cognito's order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.emulator.common import check_secret_hash, deliver, delivery_target, find_client
from worker.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.emulator.tokens import TokenError

if TYPE_CHECKING:
    from worker.emulator.core import Emulator
    from worker.emulator.state import Pool, User

__all__ = ["get_user_attribute_verification_code", "resend_confirmation_code"]

_RESEND = "ResendConfirmationCode"
_VERIFY = "GetUserAttributeVerificationCode"
_VERIFIABLE = {"email": "EMAIL", "phone_number": "SMS"}
_STANDARD_ATTRIBUTES = frozenset(
    {
        "address",
        "birthdate",
        "email",
        "email_verified",
        "family_name",
        "gender",
        "given_name",
        "locale",
        "middle_name",
        "name",
        "nickname",
        "phone_number",
        "phone_number_verified",
        "picture",
        "preferred_username",
        "profile",
        "sub",
        "updated_at",
        "website",
        "zoneinfo",
    }
)


def _limit_exceeded() -> ServiceError:
    return ServiceError(
        "LimitExceededException", "Attempt limit exceeded, please try after some time."
    )


def resend_confirmation_code(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """Send a new sign-up confirmation code to an unconfirmed user."""
    client = find_client(emu, params["ClientId"])
    username: str = params["Username"]
    check_secret_hash(client, username, params.get("SecretHash"))
    pool = emu.directory.pools[client.pool_id]
    user = pool.get_user(username)
    if user is None:
        raise ServiceError("UserNotFoundException", "Username/client id combination not found.")
    if user.status == "CONFIRMED":
        raise invalid_parameter("User is already confirmed.")
    target = delivery_target(pool, user)
    if target is None:
        raise invalid_parameter("Cannot resend codes. Auto verification not turned on.")
    medium, attribute, destination = target
    return _capped_delivery(
        emu,
        _RESEND,
        pool,
        user,
        client.id,
        medium=medium,
        attribute=attribute,
        destination=destination,
    )


def get_user_attribute_verification_code(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """Send a verification code for the signed-in user's email or phone_number."""
    try:
        claims = emu.tokens.verify_access(params["AccessToken"])
    except TokenError as exc:
        raise not_authorized(str(exc)) from None
    pool = emu.directory.pools.get(claims.pool_id)
    user = pool.get_user(claims.username) if pool is not None else None
    if pool is None or user is None:
        raise ServiceError("UserNotFoundException", "User does not exist.")
    name: str = params["AttributeName"]
    if name not in _STANDARD_ATTRIBUTES and not name.startswith("custom:"):
        raise invalid_parameter(f"Invalid attribute name: {name}")
    medium = _VERIFIABLE.get(name)
    if medium is None:
        raise invalid_parameter(f"Attribute {name} cannot be verified.")
    destination = user.attributes.get(name)
    if not destination:
        raise invalid_parameter(f"Invalid attribute: {name} is not set for this user.")
    return _capped_delivery(
        emu,
        _VERIFY,
        pool,
        user,
        claims.client_id,
        medium=medium,
        attribute=name,
        destination=destination,
    )


def _capped_delivery(
    emu: Emulator,
    operation: str,
    pool: Pool,
    user: User,
    client_id: str,
    *,
    medium: str,
    attribute: str,
    destination: str,
) -> dict[str, Any]:
    """Count the call against the user's hourly cap, then deliver a code.

    Raises:
        ServiceError: LimitExceededException when the user already had their calls.
    """
    key = (pool.id, user.username, operation)
    if not emu.caps.allows(key):
        raise _limit_exceeded()
    emu.caps.record(key)
    details = deliver(
        emu,
        operation=operation,
        pool=pool,
        user=user,
        client_id=client_id,
        medium=medium,
        attribute=attribute,
        destination=destination,
    )
    return {"CodeDeliveryDetails": details}
