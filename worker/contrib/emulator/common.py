"""Helpers shared by the operation handlers: lookups, SecretHash, masking, delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sys
import time
from typing import TYPE_CHECKING, Any

from worker.contrib.emulator.codebook import purpose_of
from worker.contrib.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.contrib.emulator.state import AppClient, Pool, User
from worker.contrib.emulator.tokens import AccessClaims, TokenError

if TYPE_CHECKING:
    from worker.contrib.emulator.context import Context

__all__ = [
    "check_password",
    "check_secret_hash",
    "deliver",
    "delivery_target",
    "find_client",
    "find_pool",
    "mask",
    "new_user",
    "parse_attributes",
    "secret_hash",
    "simulated_delivery",
    "token_user",
    "user_document",
]

_PHONE = re.compile(r"\+[0-9]{4,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def secret_hash(secret: str, username: str, client_id: str) -> str:
    """Base64(HMAC_SHA256(key=secret, msg=username + client_id))."""
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def find_client(emu: Context, client_id: str) -> AppClient:
    """The app client ``client_id``; ``ResourceNotFoundException`` when there is none."""
    client = emu.directory.clients.get(client_id)
    if client is None:
        raise ServiceError(
            "ResourceNotFoundException", f"User pool client {client_id} does not exist."
        )
    return client


def find_pool(emu: Context, pool_id: str) -> Pool:
    """The pool ``pool_id``; ``ResourceNotFoundException`` when there is none."""
    pool = emu.directory.pools.get(pool_id)
    if pool is None:
        raise ServiceError("ResourceNotFoundException", f"User pool {pool_id} does not exist.")
    return pool


def token_user(emu: Context, token: str, *, stored: bool) -> tuple[AccessClaims, Pool, User]:
    """The claims of an AccessToken whose signature and claims check out, and the pool and
    user it names.

    ``stored``: the user is stored so that changes to it persist
    (:meth:`Pool.user_for_update`); otherwise a synthetic user is only generated.

    Raises:
        ServiceError: NotAuthorizedException for a token that does not verify;
            UserNotFoundException when its pool or user is gone.
    """
    try:
        claims = emu.tokens.verify_access(token)
    except TokenError as exc:
        raise not_authorized(str(exc)) from None
    pool = emu.directory.pools.get(claims.pool_id)
    user = None
    if pool is not None:
        user = pool.user_for_update(claims.username) if stored else pool.get_user(claims.username)
    if pool is None or user is None:
        raise ServiceError("UserNotFoundException", "User does not exist.")
    return claims, pool, user


def check_secret_hash(
    client: AppClient, username: str, given: str | None, *, auth_parameter: bool = False
) -> None:
    """Raise ``NotAuthorizedException`` unless ``given`` is right for a client with a secret.

    A client without a secret ignores a SecretHash, as the emulator documents. A missing
    hash reads "Client <id> is configured for secret but secret was not received" for a
    ``SecretHash`` member, and, with ``auth_parameter`` (InitiateAuth's
    ``AuthParameters.SECRET_HASH``), Cognito's own wording for that call: "Client <id> is
    configured with secret but SECRET_HASH was not received".
    """
    if client.secret is None:
        return
    if not given:
        if auth_parameter:
            raise not_authorized(
                f"Client {client.id} is configured with secret but SECRET_HASH was not received"
            )
        raise not_authorized(
            f"Client {client.id} is configured for secret but secret was not received"
        )
    expected = secret_hash(client.secret, username, client.id)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise not_authorized(f"Unable to verify secret hash for client {client.id}")


def mask(medium: str, destination: str) -> str:
    """Mask like Cognito: ``j***@e***`` for emails, ``+*******1234`` for phone numbers."""
    if medium == "EMAIL":
        local, _, domain = destination.partition("@")
        return f"{local[:1]}***@{domain[:1]}***"
    digits = destination.removeprefix("+")
    return "+" + "*" * max(0, len(digits) - 4) + digits[-4:]


def delivery_target(pool: Pool, user: User) -> tuple[str, str, str] | None:
    """(medium, attribute, destination) for a confirmation code, or None.

    SMS when ``phone_number`` is auto-verified and set (Cognito prefers it when both are),
    else EMAIL when ``email`` is auto-verified and set.
    """
    verified = pool.auto_verified_attributes
    phone = user.attributes.get("phone_number")
    if "phone_number" in verified and phone:
        return "SMS", "phone_number", phone
    email = user.attributes.get("email")
    if "email" in verified and email:
        return "EMAIL", "email", email
    return None


def simulated_delivery(pool: Pool, typed: str) -> dict[str, str]:
    """The CodeDeliveryDetails answered for a user that does not exist (nothing is sent).

    Cognito: "The simulated delivery medium is determined by the input user name format
    and verification settings of the user pool" (developer guide, "Managing user
    existence error responses"). Here: a typed e-mail or phone number the pool verifies
    is masked as if it were the destination; otherwise the pool's medium (as
    :func:`delivery_target` prefers it) with a destination derived from a hash of pool
    and name, so one name always gets one answer. A pool that verifies neither answers
    as for an existing user: InvalidParameterException.
    """
    verified = pool.auto_verified_attributes
    if "email" in verified and _EMAIL.fullmatch(typed):
        return _details("EMAIL", "email", typed)
    if "phone_number" in verified and _PHONE.fullmatch(typed):
        return _details("SMS", "phone_number", typed)
    digest = hashlib.sha256(f"{pool.id}/{typed}".encode()).hexdigest()
    if "phone_number" in verified:
        return _details("SMS", "phone_number", "+1" + str(int(digest[:12], 16))[-10:])
    if "email" in verified:
        letters = "abcdefghijklmnopqrstuvwxyz"
        local = letters[int(digest[:2], 16) % 26]
        domain = letters[int(digest[2:4], 16) % 26]
        return _details("EMAIL", "email", f"{local}@{domain}.com")
    raise invalid_parameter("Cannot resend codes. Auto verification not turned on.")


def _details(medium: str, attribute: str, destination: str) -> dict[str, str]:
    return {
        "Destination": mask(medium, destination),
        "DeliveryMedium": medium,
        "AttributeName": attribute,
    }


def deliver(
    emu: Context,
    *,
    operation: str,
    pool: Pool,
    user: User,
    client_id: str | None,
    medium: str,
    attribute: str,
    destination: str,
) -> dict[str, str]:
    """Record a delivery with a fresh 6-digit code; the CodeDeliveryDetails to answer.

    The code becomes the one the user's ConfirmSignUp / VerifyUserAttribute accepts
    (:class:`~worker.contrib.emulator.codebook.CodeBook`).

    Raises:
        ServiceError: LimitExceededException with Cognito's daily e-mail message when the
            pool sends with the default e-mail sender (``COGNITO_DEFAULT``) and the
            account (the emulator, per Region) already sent ``daily_email_limit`` e-mails
            this UTC day (see :meth:`~worker.contrib.emulator.context.Context.spend_default_email`).
    """
    if medium == "EMAIL" and pool.email_sending_account == "COGNITO_DEFAULT":
        emu.spend_default_email(pool.region)
    details = _details(medium, attribute, destination)
    code = emu.next_code()
    emu.codebook.issue((pool.id, user.username, purpose_of(operation, attribute)), code)
    if emu.config.print_codes:
        line = (
            f"code {code} for {user.username} in {pool.id} ({operation}, {medium} to {destination})"
        )
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    emu.recorder.delivery(
        {
            "operation": operation,
            "pool_id": pool.id,
            "client_id": client_id,
            "username": user.username,
            "medium": medium,
            "attribute": attribute,
            "destination": destination,
            "masked_destination": details["Destination"],
            "code": code,
            "time": time.time(),
        }
    )
    return details


def parse_attributes(items: list[Any] | None) -> dict[str, str]:
    """``[{"Name", "Value"}]`` as a dict; ``InvalidParameterException`` on bad entries."""
    result: dict[str, str] = {}
    for item in items or []:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise invalid_parameter("Each user attribute needs a Name.")
        name, value = item["Name"], item.get("Value", "")
        if not isinstance(value, str):
            raise ServiceError("SerializationException", f"Value of {name} must be a string")
        if name == "phone_number" and not _PHONE.fullmatch(value):
            raise invalid_parameter("Invalid phone number format.")
        if name == "email" and not _EMAIL.fullmatch(value):
            raise invalid_parameter("Invalid email address format.")
        result[name] = value
    return result


def new_user(
    pool: Pool,
    typed: str,
    *,
    sub: str,
    status: str,
    password: str,
    attributes: dict[str, str],
) -> User:
    """A new user of ``pool`` signed up (or created) as ``typed``; not stored yet.

    In a pool with ``UsernameAttributes`` the typed name must be an e-mail or a phone
    number allowed there: it becomes that attribute, and the username is a fresh UUID,
    the user's ``sub`` (developer guide, "User pool attributes": "Amazon Cognito ...
    generates a persistent GUID ... as the value of Username"; moto's
    ``test_admin_create_user_with_username_attributes``).

    Raises:
        ServiceError: InvalidParameterException "Username should be either an email or a
            phone number." (moto's ``test_admin_create_user_with_incorrect_username_\
            attribute_type_fails``, the wording Cognito answers with).
    """
    if not pool.username_attributes:
        return User(typed, sub, status, password, attributes)
    for attribute in pool.username_attributes:
        shape = _EMAIL if attribute == "email" else _PHONE
        if shape.fullmatch(typed):
            return User(sub, sub, status, password, {**attributes, attribute: typed})
    raise invalid_parameter("Username should be either an email or a phone number.")


def existing_user_message(pool: Pool, typed: str, *, admin: bool) -> str:
    """Cognito's UsernameExistsException message when ``typed`` names a user already.

    SignUp: "User already exists"; in a pool whose users sign in with their e-mail (or
    phone), "An account with the given email already exists." (public:
    jonsaw/amazon-cognito-identity-dart#73, the answer Cognito gave). AdminCreateUser:
    "User account already exists" (public: localstack/localstack#4465, the AWS answer).
    """
    if admin:
        return "User account already exists"
    if pool.username_attributes:
        attribute = "email" if _EMAIL.fullmatch(typed) else "phone_number"
        return f"An account with the given {attribute} already exists."
    return "User already exists"


def check_password(pool: Pool, password: str) -> None:
    """Raise ``InvalidPasswordException`` unless ``password`` meets the pool's policy."""
    policy = pool.password_policy
    problems: list[str] = []
    if len(password) < int(policy.get("MinimumLength", 8)):
        problems.append("Password not long enough")
    if policy.get("RequireUppercase") and not any(c.isupper() for c in password):
        problems.append("Password must have uppercase characters")
    if policy.get("RequireLowercase") and not any(c.islower() for c in password):
        problems.append("Password must have lowercase characters")
    if policy.get("RequireNumbers") and not any(c.isdigit() for c in password):
        problems.append("Password must have numeric characters")
    if policy.get("RequireSymbols") and all(c.isalnum() for c in password):
        problems.append("Password must have symbol characters")
    if problems:
        raise ServiceError(
            "InvalidPasswordException", "Password did not conform with policy: " + problems[0]
        )


def user_document(user: User, *, attributes_key: str = "Attributes") -> dict[str, Any]:
    """A user as ListUsers (``Attributes``) or AdminGetUser (``UserAttributes``) shows it."""
    return {
        "Username": user.username,
        attributes_key: [{"Name": k, "Value": v} for k, v in user.all_attributes().items()],
        "UserCreateDate": user.created,
        "UserLastModifiedDate": user.modified,
        "Enabled": user.enabled,
        "UserStatus": user.status,
    }
