"""The wire: AWS JSON 1.1 framing, malformed requests, model-driven validation."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.support.cognito import error_of
from worker.contrib.emulator import EmulatorHandle

TARGET = "AWSCognitoIdentityProviderService."
JSON_11 = "application/x-amz-json-1.1"


def _post(emulator: EmulatorHandle, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(emulator.endpoint_url + "/", content=body, headers=headers, timeout=10)


@pytest.fixture
def loose(emulator: EmulatorHandle) -> Any:
    """A boto3 client that skips its own parameter validation, as a buggy caller might."""
    return boto3.client(
        "cognito-idp",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )


def test_error_document_shape(emulator: EmulatorHandle) -> None:
    response = _post(
        emulator,
        json.dumps({"ClientId": "nope", "Username": "x"}).encode(),
        {"X-Amz-Target": TARGET + "ResendConfirmationCode", "Content-Type": JSON_11},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(JSON_11)
    assert response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert response.json()["__type"] == "ResourceNotFoundException"
    assert response.json()["message"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"'])
def test_bad_json_is_a_serialization_exception(emulator: EmulatorHandle, body: bytes) -> None:
    response = _post(
        emulator, body, {"X-Amz-Target": TARGET + "ResendConfirmationCode", "Content-Type": JSON_11}
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": JSON_11},
        {"Content-Type": JSON_11, "X-Amz-Target": TARGET + "LaunchRockets"},
        {"Content-Type": JSON_11, "X-Amz-Target": "SomethingElse.ResendConfirmationCode"},
    ],
    ids=["missing", "unknown-operation", "other-service"],
)
def test_unknown_target(emulator: EmulatorHandle, headers: dict[str, str]) -> None:
    response = _post(emulator, b"{}", headers)
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"


def test_missing_required_members(emulator: EmulatorHandle) -> None:
    response = _post(
        emulator,
        b"{}",
        {"X-Amz-Target": TARGET + "ResendConfirmationCode", "Content-Type": JSON_11},
    )
    assert response.status_code == 400
    document = response.json()
    assert document["__type"] == "InvalidParameterException"
    assert document["message"].startswith("2 validation errors detected")
    # Username is sensitive in the model: Cognito leaves out even "null" (as recorded for
    # the sensitive accessToken, worker/contrib/emulator/validation.py names the source).
    assert "Value at 'username' failed to satisfy constraint" in document["message"]
    assert "Value null at 'username'" not in document["message"]


@pytest.mark.parametrize("token", ["", "n/a"], ids=["empty", "outside-the-pattern"])
def test_an_access_token_outside_the_pattern_is_refused_before_any_token_check(
    emulator: EmulatorHandle, token: str
) -> None:
    # Recorded from a real pool (worker/contrib/emulator/validation.py names the source):
    # the model's pattern answers first, without the value (the member is sensitive).
    response = _post(
        emulator,
        json.dumps(
            {"AccessToken": token, "UserAttributes": [{"Name": "name", "Value": "x"}]}
        ).encode(),
        {"X-Amz-Target": TARGET + "UpdateUserAttributes", "Content-Type": JSON_11},
    )
    assert response.status_code == 400
    assert response.json() == {
        "__type": "InvalidParameterException",
        "message": "1 validation error detected: Value at 'accessToken' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [A-Za-z0-9-_=.]+",
    }


def test_a_missing_access_token_leaves_out_null_as_for_every_sensitive_member(
    emulator: EmulatorHandle,
) -> None:
    response = _post(
        emulator,
        json.dumps({"AttributeName": "email"}).encode(),
        {"X-Amz-Target": TARGET + "GetUserAttributeVerificationCode", "Content-Type": JSON_11},
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "1 validation error detected: Value at 'accessToken' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_wrong_type_is_a_serialization_exception(emulator: EmulatorHandle) -> None:
    response = _post(
        emulator,
        json.dumps({"ClientId": "abc", "Username": 12}).encode(),
        {"X-Amz-Target": TARGET + "ResendConfirmationCode", "Content-Type": JSON_11},
    )
    assert response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"ClientId": "abc", "Username": "u" * 129}, "length less than or equal to 128"),
        ({"ClientId": "c" * 129, "Username": "u"}, "length less than or equal to 128"),
        ({"ClientId": "not-valid!", "Username": "u"}, "regular expression pattern"),
        ({"ClientId": "abc", "Username": "has space"}, "regular expression pattern"),
        ({"ClientId": "abc", "Username": ""}, "length greater than or equal to 1"),
    ],
)
def test_resend_constraints(loose: Any, params: dict[str, str], needle: str) -> None:
    error = error_of(loose.resend_confirmation_code, **params)
    assert error.response["Error"]["Code"] == "InvalidParameterException"
    assert needle in error.response["Error"]["Message"]
    # sensitive members are not echoed back
    assert "u" * 129 not in error.response["Error"]["Message"]


def test_attribute_name_longer_than_32(loose: Any, access_token: str) -> None:
    error = error_of(
        loose.get_user_attribute_verification_code,
        AccessToken=access_token,
        AttributeName="a" * 33,
    )
    assert error.response["Error"]["Code"] == "InvalidParameterException"
    assert "'attributeName'" in error.response["Error"]["Message"]


def test_inspection_paths_do_not_collide(emulator: EmulatorHandle) -> None:
    health = httpx.get(emulator.endpoint_url + "/_emulator/health", timeout=10).json()
    assert health["status"] == "ok"
    assert httpx.get(emulator.endpoint_url + "/", timeout=10).status_code == 405
