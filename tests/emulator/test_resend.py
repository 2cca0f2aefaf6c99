"""ResendConfirmationCode through the real boto3 client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool


def test_success_masks_email_and_records_a_six_digit_code(
    cognito: Any, pool: UserPool, sign_up: Callable[..., str], emulator: EmulatorHandle
) -> None:
    sign_up("jane", email="jane@example.com")
    emulator.reset()  # forget SignUp's own delivery
    answer = cognito.resend_confirmation_code(ClientId=pool.client_id, Username="jane")
    assert answer["CodeDeliveryDetails"] == {
        "Destination": "j***@e***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    (delivery,) = emulator.deliveries("jane")
    assert delivery["pool_id"] == pool.pool_id
    assert delivery["medium"] == "EMAIL"
    assert delivery["destination"] == "jane@example.com"
    assert re.fullmatch(r"\d{6}", delivery["code"])
    assert delivery["time"] > 0


def test_phone_pool_masks_like_cognito(cognito: Any) -> None:
    pool_id = cognito.create_user_pool(PoolName="sms", AutoVerifiedAttributes=["phone_number"])[
        "UserPool"
    ]["Id"]
    client_id = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="c")[
        "UserPoolClient"
    ]["ClientId"]
    cognito.sign_up(
        ClientId=client_id,
        Username="sam",
        Password="Corr3ct-Horse!",
        UserAttributes=[{"Name": "phone_number", "Value": "+12065551234"}],
    )
    details = cognito.resend_confirmation_code(ClientId=client_id, Username="sam")[
        "CodeDeliveryDetails"
    ]
    assert details == {
        "Destination": "+*******1234",
        "DeliveryMedium": "SMS",
        "AttributeName": "phone_number",
    }


def test_unknown_client_is_resource_not_found(cognito: Any) -> None:
    error = error_of(cognito.resend_confirmation_code, ClientId="nosuchclient", Username="someone")
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_secret_hash_missing_wrong_and_right(
    cognito: Any, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("kim")
    missing = error_of(
        cognito.resend_confirmation_code, ClientId=pool.secret_client_id, Username="kim"
    )
    assert missing.response["Error"]["Code"] == "NotAuthorizedException"
    assert missing.response["Error"]["Message"] == (
        f"Client {pool.secret_client_id} is configured for secret but secret was not received"
    )
    wrong = error_of(
        cognito.resend_confirmation_code,
        ClientId=pool.secret_client_id,
        Username="kim",
        SecretHash=pool.secret_hash("someone-else"),
    )
    assert wrong.response["Error"]["Code"] == "NotAuthorizedException"
    assert wrong.response["Error"]["Message"] == (
        f"Unable to verify secret hash for client {pool.secret_client_id}"
    )
    answer = cognito.resend_confirmation_code(
        ClientId=pool.secret_client_id, Username="kim", SecretHash=pool.secret_hash("kim")
    )
    assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"


def test_unknown_user(cognito: Any, pool: UserPool) -> None:
    error = error_of(cognito.resend_confirmation_code, ClientId=pool.client_id, Username="nobody")
    assert error.response["Error"] == {
        "Code": "UserNotFoundException",
        "Message": "Username/client id combination not found.",
    }


def test_already_confirmed(cognito: Any, pool: UserPool, sign_up: Callable[..., str]) -> None:
    sign_up("lee")
    cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username="lee")
    error = error_of(cognito.resend_confirmation_code, ClientId=pool.client_id, Username="lee")
    assert error.response["Error"] == {
        "Code": "InvalidParameterException",
        "Message": "User is already confirmed.",
    }


def test_sixth_call_in_an_hour_is_limit_exceeded(
    cognito: Any, pool: UserPool, sign_up: Callable[..., str], emulator: EmulatorHandle
) -> None:
    sign_up("max")
    sign_up("other")
    for _ in range(5):
        cognito.resend_confirmation_code(ClientId=pool.client_id, Username="max")
    error = error_of(cognito.resend_confirmation_code, ClientId=pool.client_id, Username="max")
    assert error.response["Error"] == {
        "Code": "LimitExceededException",
        "Message": "Attempt limit exceeded, please try after some time.",
    }
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # another user is unaffected; reset clears the caps
    cognito.resend_confirmation_code(ClientId=pool.client_id, Username="other")
    emulator.reset()
    cognito.resend_confirmation_code(ClientId=pool.client_id, Username="max")


def test_synthetic_user_through_the_secret_client(cognito: Any) -> None:
    from worker.contrib.emulator import SECRET_CLIENT_ID, synthetic_client_secret
    from worker.contrib.emulator.common import secret_hash

    secret = synthetic_client_secret(0)
    answer = cognito.resend_confirmation_code(
        ClientId=SECRET_CLIENT_ID,
        Username="user0000042",
        SecretHash=secret_hash(secret, "user0000042", SECRET_CLIENT_ID),
    )
    assert answer["CodeDeliveryDetails"]["Destination"] == "u***@e***"
    assert (
        code_of(cognito.resend_confirmation_code, ClientId=SECRET_CLIENT_ID, Username="user0000042")
        == "NotAuthorizedException"
    )
