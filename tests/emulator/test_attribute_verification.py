"""GetUserAttributeVerificationCode and the tokens InitiateAuth issues."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.cognito import error_of
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle
from worker.contrib.emulator.pools import DEFAULT_PASSWORD as PASSWORD
from worker.contrib.emulator.pools import UserPool


def _claims(token: str) -> dict[str, Any]:
    header, payload, signature = token.split(".")
    assert signature
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_access_token_is_a_cognito_shaped_jwt(access_token: str, pool: UserPool) -> None:
    claims = _claims(access_token)
    assert claims["token_use"] == "access"
    assert claims["username"] == "carol"
    assert claims["client_id"] == pool.client_id
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool.pool_id}"
    assert claims["sub"]
    assert claims["exp"] - claims["iat"] >= 3599


def test_email_and_phone_codes(cognito: Any, access_token: str, emulator: EmulatorHandle) -> None:
    email = cognito.get_user_attribute_verification_code(
        AccessToken=access_token, AttributeName="email"
    )["CodeDeliveryDetails"]
    assert email == {
        "Destination": "c***@e***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    phone = cognito.get_user_attribute_verification_code(
        AccessToken=access_token, AttributeName="phone_number"
    )["CodeDeliveryDetails"]
    assert phone == {
        "Destination": "+*******0100",
        "DeliveryMedium": "SMS",
        "AttributeName": "phone_number",
    }
    verifications = [
        d
        for d in emulator.deliveries("carol")
        if d["operation"] == "GetUserAttributeVerificationCode"
    ]
    assert [d["destination"] for d in verifications] == ["carol@example.org", "+12065550100"]


def test_token_not_issued_here_is_invalid(cognito: Any, access_token: str) -> None:
    header, payload, _ = access_token.split(".")
    forged = f"{header}.{payload}.c2lnbmF0dXJl"
    for token in (forged, "not-a-token"):
        error = error_of(
            cognito.get_user_attribute_verification_code, AccessToken=token, AttributeName="email"
        )
        assert error.response["Error"] == {
            "Code": "NotAuthorizedException",
            "Message": "Invalid Access Token",
        }


@pytest.mark.parametrize(
    "emulator_config", [EmulatorConfig(access_token_lifetime_seconds=0.5)], ids=["short-lived"]
)
def test_expired_token(cognito: Any, access_token: str) -> None:
    time.sleep(1.1)
    error = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=access_token,
        AttributeName="email",
    )
    assert error.response["Error"] == {
        "Code": "NotAuthorizedException",
        "Message": "Access Token has expired",
    }


@pytest.mark.parametrize("attribute", ["favourite_colour", "name", "custom:tier"])
def test_unknown_or_unset_attribute(cognito: Any, access_token: str, attribute: str) -> None:
    error = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=access_token,
        AttributeName=attribute,
    )
    assert error.response["Error"]["Code"] == "InvalidParameterException"


def test_unset_phone_number(cognito: Any, pool: UserPool, sign_up: Callable[..., str]) -> None:
    sign_up("dora")
    cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username="dora")
    token = cognito.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "dora", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    error = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=token,
        AttributeName="phone_number",
    )
    assert error.response["Error"]["Code"] == "InvalidParameterException"


def test_hourly_cap_is_per_operation(
    cognito: Any, access_token: str, emulator: EmulatorHandle
) -> None:
    for _ in range(5):
        cognito.get_user_attribute_verification_code(
            AccessToken=access_token, AttributeName="email"
        )
    error = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=access_token,
        AttributeName="phone_number",
    )
    assert error.response["Error"]["Code"] == "LimitExceededException"
    # the resend cap of the same user is a separate count: carol is confirmed, so Cognito
    # answers "already confirmed" rather than LimitExceeded
    stats = emulator.stats()
    assert stats["errors"] == {"LimitExceededException": 1}
