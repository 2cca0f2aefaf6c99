"""Helpers shared by the operation handlers: lookups, SecretHash, masking, delivery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import TYPE_CHECKING, Any

from worker.emulator.errors import ServiceError, invalid_parameter, not_authorized
from worker.emulator.state import AppClient, Pool, User

if TYPE_CHECKING:
    from worker.emulator.core import Emulator

__all__ = [
    "check_password",
    "check_secret_hash",
    "deliver",
    "delivery_target",
    "find_client",
    "find_pool",
    "mask",
    "parse_attributes",
    "secret_hash",
    "user_document",
]

_PHONE = re.compile(r"\+[0-9]{4,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def secret_hash(secret: str, username: str, client_id: str) -> str:
    """Base64(HMAC_SHA256(key=secret, msg=username + client_id))."""
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def find_client(emu: Emulator, client_id: str) -> AppClient:
    """The app client ``client_id``; ``ResourceNotFoundException`` when there is none."""
    client = emu.directory.clients.get(client_id)
    if client is None:
        raise ServiceError(
            "ResourceNotFoundException", f"User pool client {client_id} does not exist."
        )
    return client


def find_pool(emu: Emulator, pool_id: str) -> Pool:
    """The pool ``pool_id``; ``ResourceNotFoundException`` when there is none."""
    pool = emu.directory.pools.get(pool_id)
    if pool is None:
        raise ServiceError("ResourceNotFoundException", f"User pool {pool_id} does not exist.")
    return pool


def check_secret_hash(client: AppClient, username: str, given: str | None) -> None:
    """Raise ``NotAuthorizedException`` unless ``given`` is right for a client with a secret.

    A client without a secret ignores a SecretHash, as the emulator documents.
    """
    if client.secret is None:
        return
    if not given:
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


def deliver(
    emu: Emulator,
    *,
    operation: str,
    pool: Pool,
    user: User,
    client_id: str | None,
    medium: str,
    attribute: str,
    destination: str,
) -> dict[str, str]:
    """Record a delivery with a fresh 6-digit code; the CodeDeliveryDetails to answer."""
    masked = mask(medium, destination)
    emu.recorder.delivery(
        {
            "operation": operation,
            "pool_id": pool.id,
            "client_id": client_id,
            "username": user.username,
            "medium": medium,
            "attribute": attribute,
            "destination": destination,
            "masked_destination": masked,
            "code": emu.next_code(),
            "time": time.time(),
        }
    )
    return {"Destination": masked, "DeliveryMedium": medium, "AttributeName": attribute}


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
