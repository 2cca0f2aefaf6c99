"""Which user a typed name designates: case-insensitive pools, UsernameAttributes, and
PreventUserExistenceErrors, through the real boto3 client over HTTP."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import DEFAULT_PASSWORD as PASSWORD


def _pool(cognito: Any, **options: Any) -> tuple[str, str]:
    """A pool verifying email, with one public client; (pool id, client id)."""
    client_options = options.pop("client", {})
    pool_id = cognito.create_user_pool(
        PoolName="p-" + uuid.uuid4().hex[:8], AutoVerifiedAttributes=["email"], **options
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", **client_options
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def _sign_up(cognito: Any, client_id: str, username: str, email: str | None = None) -> Any:
    attributes = [{"Name": "email", "Value": email}] if email else []
    return cognito.sign_up(
        ClientId=client_id, Username=username, Password=PASSWORD, UserAttributes=attributes
    )


# --- UsernameConfiguration.CaseSensitive -------------------------------------------------


def test_case_insensitive_pool_folds_case_everywhere(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito, UsernameConfiguration={"CaseSensitive": False})
    _sign_up(cognito, client_id, "Alice", "alice@example.com")

    refused = error_of(_sign_up, cognito=cognito, client_id=client_id, username="ALICE")
    assert refused.response["Error"] == {
        "Code": "UsernameExistsException",
        "Message": "User already exists",
    }
    assert (
        code_of(cognito.admin_create_user, UserPoolId=pool_id, Username="alice")
        == "UsernameExistsException"
    )
    # every name finds the one user, under the name it signed up with
    assert cognito.admin_get_user(UserPoolId=pool_id, Username="aLiCe")["Username"] == "Alice"
    details = cognito.resend_confirmation_code(ClientId=client_id, Username="ALICE")
    assert details["CodeDeliveryDetails"]["Destination"] == "a***@e***"
    assert cognito.list_users(UserPoolId=pool_id)["Users"][0]["Username"] == "Alice"
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True
    )
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ALICE", "PASSWORD": PASSWORD},
    )
    assert tokens["AuthenticationResult"]["AccessToken"]
    described = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["UsernameConfiguration"] == {"CaseSensitive": False}


def test_case_insensitive_hourly_cap_counts_one_user_across_names_and_clients(
    cognito: Any, emulator: EmulatorHandle
) -> None:
    pool_id, client_id = _pool(cognito, UsernameConfiguration={"CaseSensitive": False})
    other_client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="mobile")[
        "UserPoolClient"
    ]["ClientId"]
    _sign_up(cognito, client_id, "alice", "alice@example.com")
    emulator.reset()  # SignUp's own code is not a resend
    for name, client in [
        ("alice", client_id),
        ("ALICE", client_id),
        ("Alice", other_client),
        ("alice", other_client),
        ("aLICE", client_id),
    ]:
        cognito.resend_confirmation_code(ClientId=client, Username=name)
    error = error_of(cognito.resend_confirmation_code, ClientId=other_client, Username="ALICE")
    assert error.response["Error"] == {
        "Code": "LimitExceededException",
        "Message": "Attempt limit exceeded, please try after some time.",
    }
    # every delivery is recorded under the one username
    assert {d["username"] for d in emulator.deliveries()} == {"alice"}
    assert len(emulator.deliveries("alice")) == 5


def test_pool_without_username_configuration_is_case_sensitive(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito)
    _sign_up(cognito, client_id, "bob", "bob@example.com")
    _sign_up(cognito, client_id, "BOB", "bob2@example.com")  # another user
    assert (
        code_of(cognito.admin_get_user, UserPoolId=pool_id, Username="Bob")
        == "UserNotFoundException"
    )
    assert len(cognito.list_users(UserPoolId=pool_id)["Users"]) == 2
    assert "UsernameConfiguration" not in cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    explicit, _ = _pool(cognito, UsernameConfiguration={"CaseSensitive": True})
    described = cognito.describe_user_pool(UserPoolId=explicit)["UserPool"]
    assert described["UsernameConfiguration"] == {"CaseSensitive": True}


def test_synthetic_pool_is_case_insensitive(cognito: Any, emulator: EmulatorHandle) -> None:
    client_id = "synthetic0client0000000001"
    cognito.resend_confirmation_code(ClientId=client_id, Username="USER0000007")
    (delivery,) = emulator.deliveries("user0000007")
    assert delivery["destination"] == "user0000007@example.com"


# --- UsernameAttributes ------------------------------------------------------------------


def test_email_pool_gives_uuid_usernames_and_accepts_email_phone_or_sub(
    cognito: Any, emulator: EmulatorHandle
) -> None:
    pool_id, client_id = _pool(
        cognito,
        UsernameAttributes=["email", "phone_number"],
        UsernameConfiguration={"CaseSensitive": False},
    )
    answer = cognito.sign_up(
        ClientId=client_id,
        Username="Dana@Example.com",
        Password=PASSWORD,
        UserAttributes=[{"Name": "phone_number", "Value": "+12065550123"}],
    )
    sub = answer["UserSub"]
    assert uuid.UUID(sub)
    assert answer["CodeDeliveryDetails"]["AttributeName"] == "email"

    for name in ("Dana@Example.com", "dana@example.com", "+12065550123", sub):
        user = cognito.admin_get_user(UserPoolId=pool_id, Username=name)
        assert user["Username"] == sub
        attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
        assert attributes["email"] == "Dana@Example.com"
        assert attributes["sub"] == sub

    emulator.reset()
    details = cognito.resend_confirmation_code(ClientId=client_id, Username="dana@example.com")
    assert details["CodeDeliveryDetails"]["Destination"] == "D***@E***"
    (delivery,) = emulator.deliveries(sub)
    assert delivery["destination"] == "Dana@Example.com"

    again = error_of(_sign_up, cognito=cognito, client_id=client_id, username="DANA@example.com")
    assert again.response["Error"] == {
        "Code": "UsernameExistsException",
        "Message": "An account with the given email already exists.",
    }
    created = cognito.admin_create_user(UserPoolId=pool_id, Username="+12065550199")["User"]
    assert created["Username"] != "+12065550199"
    assert {"Name": "phone_number", "Value": "+12065550199"} in created["Attributes"]
    described = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert described["UsernameAttributes"] == ["email", "phone_number"]


def test_email_pool_refuses_other_usernames(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito, UsernameAttributes=["email"])
    for call, kwargs in [
        (_sign_up, {"cognito": cognito, "client_id": client_id, "username": "erin"}),
        (cognito.admin_create_user, {"UserPoolId": pool_id, "Username": "erin"}),
        (cognito.admin_create_user, {"UserPoolId": pool_id, "Username": "+12065550100"}),
    ]:
        error = error_of(call, **kwargs)
        assert error.response["Error"] == {
            "Code": "InvalidParameterException",
            "Message": "Username should be either an email or a phone number.",
        }


def test_email_pool_tokens_name_the_uuid_and_sign_in_takes_the_email(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito, UsernameAttributes=["email"])
    sub = _sign_up(cognito, client_id, "fay@example.com")["UserSub"]
    cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username="fay@example.com")
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "fay@example.com", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    payload = tokens["AccessToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["username"] == sub
    assert claims["iss"].endswith(f"/{pool_id}")
    # the token's user is found by GetUserAttributeVerificationCode
    answer = cognito.get_user_attribute_verification_code(
        AccessToken=tokens["AccessToken"], AttributeName="email"
    )
    assert answer["CodeDeliveryDetails"]["Destination"] == "f***@e***"


def test_admin_create_user_resend_needs_an_existing_user(
    cognito: Any,
) -> None:
    pool_id, _ = _pool(cognito, UsernameConfiguration={"CaseSensitive": False})
    missing = error_of(
        cognito.admin_create_user, UserPoolId=pool_id, Username="gus", MessageAction="RESEND"
    )
    assert missing.response["Error"] == {
        "Code": "UserNotFoundException",
        "Message": "User does not exist.",
    }
    assert cognito.list_users(UserPoolId=pool_id)["Users"] == []
    cognito.admin_create_user(UserPoolId=pool_id, Username="gus")
    again = cognito.admin_create_user(UserPoolId=pool_id, Username="GUS", MessageAction="RESEND")
    assert again["User"]["Username"] == "gus"
    assert len(cognito.list_users(UserPoolId=pool_id)["Users"]) == 1


def test_new_user_dates_are_equal_at_millisecond_precision(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito)
    for i in range(20):
        _sign_up(cognito, client_id, f"date{i}", f"date{i}@example.com")
        user = cognito.admin_get_user(UserPoolId=pool_id, Username=f"date{i}")
        assert user["UserCreateDate"] == user["UserLastModifiedDate"]
        stamp = user["UserCreateDate"].timestamp()
        assert round(stamp, 3) == pytest.approx(stamp, abs=1e-6)


# --- PreventUserExistenceErrors ----------------------------------------------------------


def test_prevent_user_existence_errors_enabled_hides_missing_users(
    cognito: Any, emulator: EmulatorHandle
) -> None:
    pool_id, client_id = _pool(cognito, client={"PreventUserExistenceErrors": "ENABLED"})
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    assert described["UserPoolClient"]["PreventUserExistenceErrors"] == "ENABLED"

    emulator.reset()
    answer = cognito.resend_confirmation_code(ClientId=client_id, Username="ghost@example.com")
    assert answer["CodeDeliveryDetails"] == {
        "Destination": "g***@e***",
        "DeliveryMedium": "EMAIL",
        "AttributeName": "email",
    }
    plain = cognito.resend_confirmation_code(ClientId=client_id, Username="ghost")
    again = cognito.resend_confirmation_code(ClientId=client_id, Username="ghost")
    # one name, one answer (an enumeration attempt sees no difference between calls)
    assert plain["CodeDeliveryDetails"] == again["CodeDeliveryDetails"]
    assert plain["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert emulator.deliveries() == []  # nothing was sent
    stats = emulator.stats()["operations"]["ResendConfirmationCode"]
    assert stats["simulated"] == 3
    assert stats["succeeded"] == 3

    refused = error_of(
        cognito.initiate_auth,
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ghost", "PASSWORD": PASSWORD},
    )
    assert refused.response["Error"] == {
        "Code": "NotAuthorizedException",
        "Message": "Incorrect username or password.",
    }
    # a real user still gets a real code; a confirmed one still answers its error
    _sign_up(cognito, client_id, "hana", "hana@example.com")
    assert len(emulator.deliveries("hana")) == 1
    cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username="hana")
    assert (
        code_of(cognito.resend_confirmation_code, ClientId=client_id, Username="hana")
        == "InvalidParameterException"
    )


def test_prevent_user_existence_errors_legacy_is_the_default(cognito: Any) -> None:
    pool_id, client_id = _pool(cognito)
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    assert described["UserPoolClient"]["PreventUserExistenceErrors"] == "LEGACY"
    assert (
        code_of(cognito.resend_confirmation_code, ClientId=client_id, Username="ghost")
        == "UserNotFoundException"
    )
    assert (
        code_of(
            cognito.initiate_auth,
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "ghost", "PASSWORD": PASSWORD},
        )
        == "UserNotFoundException"
    )
