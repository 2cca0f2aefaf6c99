"""The two operations the project exists for: ResendConfirmationCode and
GetUserAttributeVerificationCode, with Cognito's checks in Cognito's order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.common import (
    check_secret_hash,
    deliver,
    delivery_target,
    find_client,
    simulated_delivery,
    token_user,
)
from worker.contrib.emulator.errors import (
    ATTEMPT_LIMIT_MESSAGE,
    ServiceError,
    invalid_parameter,
)
from worker.contrib.emulator.limits import cap_key

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context
    from worker.contrib.emulator.state import Pool, User

__all__ = ["get_user_attribute_verification_code", "resend_confirmation_code"]

_RESEND = "ResendConfirmationCode"
_VERIFY = "GetUserAttributeVerificationCode"
_VERIFIABLE = {"email": "EMAIL", "phone_number": "SMS"}


def _limit_exceeded() -> ServiceError:
    return ServiceError("LimitExceededException", ATTEMPT_LIMIT_MESSAGE)


def resend_confirmation_code(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Send a new sign-up confirmation code to an unconfirmed user.

    ``Username`` finds the user as :meth:`Pool.get_user` does (any case in a
    case-insensitive pool; e-mail, phone or ``sub`` in a pool with UsernameAttributes);
    the per-user cap counts the pool's user, whatever the name or the app client.
    A missing (or disabled) user answers UserNotFoundException, or, through a client with
    ``PreventUserExistenceErrors`` ENABLED, a simulated CodeDeliveryDetails and no code
    (developer guide, "Managing user existence error responses", ResendConfirmationCode:
    "Amazon Cognito returns CodeDeliveryDetails for a disabled user or a user that
    doesn't exist"). A disabled user answers like a missing one through a LEGACY client
    too: Cognito's unauthenticated calls give no sign that a disabled user exists
    (aws-amplify/aws-sdk-ios#384, a Cognito engineer: the generic "Username/client id
    combination not found." is returned for a disabled user "intentionally").
    """
    client = find_client(emu, params["ClientId"])
    username: str = params["Username"]
    check_secret_hash(client, username, params.get("SecretHash"))
    pool = emu.directory.pools[client.pool_id]
    user = pool.get_user(username)
    if user is None or not user.enabled:
        if client.hides_missing_users:
            emu.recorder.simulated(_RESEND)
            return {"CodeDeliveryDetails": simulated_delivery(pool, username)}
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


def get_user_attribute_verification_code(emu: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Send a verification code for the signed-in user's email or phone_number."""
    claims, pool, user = token_user(emu, params["AccessToken"], stored=False)
    name: str = params["AttributeName"]
    if name not in pool.schema:
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
    emu: Context,
    operation: str,
    pool: Pool,
    user: User,
    client_id: str,
    *,
    medium: str,
    attribute: str,
    destination: str,
) -> dict[str, Any]:
    """Check the user's hourly cap, deliver a code, then count the call against the cap.

    Raises:
        ServiceError: LimitExceededException when the user already had their calls, or
            when the account's daily e-mail quota is spent (see :func:`deliver`; such a
            call does not count against the user's cap).
    """
    key = cap_key(pool.id, user.username, operation)
    if not emu.caps.allows(key):
        raise _limit_exceeded()
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
    emu.caps.record(key)
    return {"CodeDeliveryDetails": details}
