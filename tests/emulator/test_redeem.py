"""ConfirmSignUp and VerifyUserAttribute: the newest code only, 24-h expiry, wrong-attempt
limit, SecretHash; the code read from the deliveries endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.codebook import CODE_LIFETIME_SECONDS, WRONG_ATTEMPT_LIMIT, CodeBook
from worker.contrib.emulator.errors import ServiceError
from worker.contrib.emulator.pools import UserPool


def _code(emulator: EmulatorHandle, username: str) -> str:
    code: str = emulator.deliveries(username)[-1]["code"]
    return code


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_sign_up_code_confirms_and_verifies_email(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("dora")
    cognito = pool.cognito
    cognito.confirm_sign_up(
        ClientId=pool.client_id, Username="dora", ConfirmationCode=_code(emulator, "dora")
    )
    user = cognito.admin_get_user(UserPoolId=pool.pool_id, Username="dora")
    assert user["UserStatus"] == "CONFIRMED"
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    error = error_of(
        cognito.confirm_sign_up, ClientId=pool.client_id, Username="dora", ConfirmationCode="000000"
    )
    assert error.response["Error"]["Code"] == "NotAuthorizedException"
    assert "Current status is CONFIRMED" in error.response["Error"]["Message"]


def test_only_the_newest_code_is_accepted(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("eve")
    first = _code(emulator, "eve")
    pool.cognito.resend_confirmation_code(ClientId=pool.client_id, Username="eve")
    second = _code(emulator, "eve")
    if first == second:
        pytest.fail("the seeded sequence gave the same code twice; pick another name")
    confirm = pool.cognito.confirm_sign_up
    assert code_of(confirm, ClientId=pool.client_id, Username="eve", ConfirmationCode=first) == (
        "CodeMismatchException"
    )
    confirm(
        ClientId=pool.client_id, Username="eve", ConfirmationCode=second, ForceAliasCreation=True
    )


def test_wrong_attempts_are_limited_until_a_new_code(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("finn")
    right = _code(emulator, "finn")
    confirm = pool.cognito.confirm_sign_up
    kwargs: dict[str, Any] = {"ClientId": pool.client_id, "Username": "finn"}
    for _ in range(WRONG_ATTEMPT_LIMIT):
        assert code_of(confirm, ConfirmationCode=_other(right), **kwargs) == "CodeMismatchException"
    assert code_of(confirm, ConfirmationCode=right, **kwargs) == "LimitExceededException"
    pool.cognito.resend_confirmation_code(ClientId=pool.client_id, Username="finn")
    confirm(ConfirmationCode=_code(emulator, "finn"), **kwargs)


def test_secret_client_needs_secret_hash(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("gus")
    code = _code(emulator, "gus")
    confirm = pool.cognito.confirm_sign_up
    kwargs: dict[str, Any] = {"ClientId": pool.secret_client_id, "Username": "gus"}
    assert code_of(confirm, ConfirmationCode=code, **kwargs) == "NotAuthorizedException"
    confirm(ConfirmationCode=code, SecretHash=pool.secret_hash("gus"), **kwargs)


def test_missing_user_and_no_code(pool: UserPool, sign_up: Callable[..., str]) -> None:
    confirm = pool.cognito.confirm_sign_up
    assert code_of(
        confirm, ClientId=pool.client_id, Username="nobody", ConfirmationCode="123456"
    ) == ("UserNotFoundException")


def test_code_expires_after_24_hours() -> None:
    book = CodeBook()
    key = ("pool", "user", "signup")
    book.issue(key, "123456", now=1000.0)
    with pytest.raises(ServiceError) as expired:
        book.redeem(key, "123456", now=1000.0 + CODE_LIFETIME_SECONDS + 1)
    assert expired.value.code == "ExpiredCodeException"
    book.redeem(key, "123456", now=1000.0 + CODE_LIFETIME_SECONDS - 1)
    with pytest.raises(ServiceError) as gone:
        book.redeem(key, "123456", now=1001.0)
    assert gone.value.code == "CodeMismatchException"


def test_verify_user_attribute(emulator: EmulatorHandle, pool: UserPool, access_token: str) -> None:
    cognito = pool.cognito
    cognito.get_user_attribute_verification_code(AccessToken=access_token, AttributeName="email")
    code = emulator.deliveries("carol")[-1]["code"]
    verify = cognito.verify_user_attribute
    assert code_of(verify, AccessToken=access_token, AttributeName="email", Code=_other(code)) == (
        "CodeMismatchException"
    )
    verify(AccessToken=access_token, AttributeName="email", Code=code)
    user = cognito.admin_get_user(UserPoolId=pool.pool_id, Username="carol")
    assert {"Name": "email_verified", "Value": "true"} in user["UserAttributes"]
    assert code_of(verify, AccessToken="bad", AttributeName="email", Code=code) == (
        "NotAuthorizedException"
    )
