"""The gateway's classification of every documented Cognito error (botocore Stubber).

The end-to-end tests drive the same gateway over HTTP against the emulator; these pin the
whole table, code by code, without a server.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from worker.cognito import CognitoGateway, compute_secret_hash, make_client, to_cognito_error
from worker.errors import (
    AmbiguousCallError,
    CognitoError,
    ConfigurationError,
    PermanentError,
    RequestRejectedError,
    ServiceFaultError,
    ThrottledError,
    TransientError,
    UserLimitExceededError,
)
from worker.settings import load_settings

COMMON_CODES = [
    "ResourceNotFoundException",
    "InvalidParameterException",
    "UnexpectedLambdaException",
    "UserLambdaValidationException",
    "NotAuthorizedException",
    "InvalidLambdaResponseException",
    "InvalidSmsRoleAccessPolicyException",
    "InvalidSmsRoleTrustRelationshipException",
    "InvalidEmailRoleAccessPolicyException",
    "CodeDeliveryFailureException",
    "UserNotFoundException",
    "OperationNotEnabledException",
    "ForbiddenException",
]
VERIFY_ONLY_CODES = ["PasswordResetRequiredException", "UserNotConfirmedException"]


def _gateway() -> tuple[CognitoGateway, Stubber]:
    client = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    return CognitoGateway(load_settings(), client), Stubber(client)


def _resend_error(code: str, status: int = 400) -> CognitoError:
    gateway, stubber = _gateway()
    stubber.add_client_error("resend_confirmation_code", code, "boom", status)
    with stubber, pytest.raises(CognitoError) as caught:
        gateway.resend_confirmation_code("client1", "alice", region="us-east-1")
    return caught.value


def _verify_error(code: str, status: int = 400) -> CognitoError:
    gateway, stubber = _gateway()
    stubber.add_client_error("get_user_attribute_verification_code", code, "boom", status)
    with stubber, pytest.raises(CognitoError) as caught:
        gateway.get_user_attribute_verification_code("a.b.c", "email", region="us-east-1")
    return caught.value


@pytest.mark.parametrize("code", COMMON_CODES)
def test_permanent_codes_are_rejections_for_resend(code: str) -> None:
    exc = _resend_error(code)
    assert isinstance(exc, RequestRejectedError)
    assert isinstance(exc, PermanentError)
    assert exc.code == code


@pytest.mark.parametrize("code", COMMON_CODES + VERIFY_ONLY_CODES)
def test_permanent_codes_are_rejections_for_verify(code: str) -> None:
    exc = _verify_error(code)
    assert isinstance(exc, RequestRejectedError)
    assert exc.code == code


@pytest.mark.parametrize("call", [_resend_error, _verify_error])
def test_too_many_requests_is_throttled(call: object) -> None:
    exc = call("TooManyRequestsException")  # type: ignore[operator]
    assert isinstance(exc, ThrottledError)
    assert isinstance(exc, TransientError)


@pytest.mark.parametrize("call", [_resend_error, _verify_error])
def test_limit_exceeded_is_permanent_user_cap(call: object) -> None:
    exc = call("LimitExceededException")  # type: ignore[operator]
    assert isinstance(exc, UserLimitExceededError)
    assert not isinstance(exc, TransientError)


@pytest.mark.parametrize("call", [_resend_error, _verify_error])
def test_internal_error_is_transient(call: object) -> None:
    exc = call("InternalErrorException", 500)  # type: ignore[operator]
    assert isinstance(exc, ServiceFaultError)
    assert exc.code == "InternalErrorException"


def test_unknown_5xx_is_transient_and_unknown_4xx_permanent() -> None:
    assert isinstance(_resend_error("SomethingNew", 503), ServiceFaultError)
    assert isinstance(_resend_error("SomethingNew", 400), RequestRejectedError)


@pytest.mark.parametrize(
    ("exc", "code", "ambiguous"),
    [
        (ReadTimeoutError(endpoint_url="http://x"), "CourierTimeout", True),
        (ConnectionClosedError(endpoint_url="http://x"), "CourierConnectionError", True),
        (EndpointConnectionError(endpoint_url="http://x"), "CourierConnectionError", False),
        (ConnectTimeoutError(endpoint_url="http://x"), "CourierConnectTimeout", False),
    ],
)
def test_network_failures_are_transient_and_sent_ones_ambiguous(
    exc: Exception, code: str, ambiguous: bool
) -> None:
    classified = to_cognito_error(exc)
    assert isinstance(classified, ServiceFaultError)
    assert isinstance(classified, AmbiguousCallError) is ambiguous
    assert classified.code == code


def test_success_returns_code_delivery_details() -> None:
    gateway, stubber = _gateway()
    details = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    stubber.add_response(
        "resend_confirmation_code",
        {"CodeDeliveryDetails": details},
        {"ClientId": "client1", "Username": "alice"},
    )
    with stubber:
        assert gateway.resend_confirmation_code("client1", "alice", region="us-east-1") == details


def test_secret_hash_comes_from_the_secrets_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "secrets.json"
    path.write_text('{"client1": "s3cr3t"}', encoding="utf-8")
    client = boto3.client(
        "cognito-idp", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    gateway = CognitoGateway(load_settings(client_secrets=path), client)
    stubber = Stubber(client)
    expected = compute_secret_hash("client1", "alice", "s3cr3t")
    stubber.add_response(
        "resend_confirmation_code",
        {"CodeDeliveryDetails": {}},
        {"ClientId": "client1", "Username": "alice", "SecretHash": expected},
    )
    with stubber:
        gateway.resend_confirmation_code("client1", "alice", region="us-east-1")
    stubber.assert_no_pending_responses()


def test_secret_hash_matches_the_documented_formula() -> None:
    # Base64(HMAC_SHA256(key=secret, msg=username + client_id)), computed independently.
    import base64
    import hashlib
    import hmac

    digest = hmac.new(b"k", b"bobclientX", hashlib.sha256).digest()
    assert compute_secret_hash("clientX", "bob", "k") == base64.b64encode(digest).decode()


def test_client_has_botocore_retries_off_and_timeouts() -> None:
    settings = load_settings(connect_timeout_seconds=1.5, read_timeout_seconds=4.0)
    client = make_client(settings)
    config: dict[str, Any] = vars(client.meta.config)  # botocore sets each option as attribute
    assert config["retries"] is not None
    assert config["retries"]["total_max_attempts"] == 1
    assert config["connect_timeout"] == 1.5
    assert config["read_timeout"] == 4.0
    assert config["max_pool_connections"] >= settings.concurrency


def test_signed_client_without_credentials_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ConfigurationError, match="IAM credentials"):
        make_client(load_settings(), signed=True)
