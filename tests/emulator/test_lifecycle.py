"""User lifecycle and teardown operations through boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.cognito import code_of
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool


def _attributes(document: Any) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in document["UserAttributes"]}


def test_get_user_and_update_email_sends_a_redeemable_code(
    emulator: EmulatorHandle, pool: UserPool, access_token: str
) -> None:
    cognito = pool.cognito
    me = cognito.get_user(AccessToken=access_token)
    assert me["Username"] == "carol"
    assert _attributes(me)["email"] == "carol@example.org"
    answer = cognito.update_user_attributes(
        AccessToken=access_token, UserAttributes=[{"Name": "email", "Value": "c2@example.org"}]
    )
    assert answer["CodeDeliveryDetailsList"][0]["DeliveryMedium"] == "EMAIL"
    assert _attributes(cognito.get_user(AccessToken=access_token))["email_verified"] == "false"
    code = emulator.deliveries("carol")[-1]["code"]
    cognito.verify_user_attribute(AccessToken=access_token, AttributeName="email", Code=code)
    assert _attributes(cognito.get_user(AccessToken=access_token))["email_verified"] == "true"
    assert (
        code_of(
            cognito.update_user_attributes,
            AccessToken=access_token,
            UserAttributes=[{"Name": "email_verified", "Value": "true"}],
        )
        == "NotAuthorizedException"
    )


def test_admin_update_disable_enable_delete(pool: UserPool, sign_up: Callable[..., str]) -> None:
    cognito: Any = pool.cognito
    sign_up("kim")
    ids = {"UserPoolId": pool.pool_id, "Username": "kim"}
    cognito.admin_update_user_attributes(
        **ids,
        UserAttributes=[
            {"Name": "email", "Value": "kim2@example.com"},
            {"Name": "email_verified", "Value": "true"},
        ],
    )
    got = _attributes(cognito.admin_get_user(**ids))
    assert got["email"] == "kim2@example.com"
    assert got["email_verified"] == "true"
    cognito.admin_disable_user(**ids)
    assert cognito.admin_get_user(**ids)["Enabled"] is False
    cognito.admin_enable_user(**ids)
    assert cognito.admin_get_user(**ids)["Enabled"] is True
    cognito.admin_delete_user(**ids)
    assert code_of(cognito.admin_get_user, **ids) == "UserNotFoundException"
    assert code_of(cognito.admin_delete_user, **ids) == "UserNotFoundException"


def test_clients_listed_and_deleted_then_the_pool(pool: UserPool) -> None:
    cognito = pool.cognito
    listed = cognito.list_user_pool_clients(UserPoolId=pool.pool_id, MaxResults=1)
    assert [c["ClientId"] for c in listed["UserPoolClients"]] == [pool.client_id]
    rest = cognito.list_user_pool_clients(
        UserPoolId=pool.pool_id, MaxResults=1, NextToken=listed["NextToken"]
    )
    assert [c["ClientId"] for c in rest["UserPoolClients"]] == [pool.secret_client_id]
    assert "NextToken" not in rest
    cognito.delete_user_pool_client(UserPoolId=pool.pool_id, ClientId=pool.client_id)
    assert (
        code_of(cognito.describe_user_pool_client, UserPoolId=pool.pool_id, ClientId=pool.client_id)
        == "ResourceNotFoundException"
    )
    cognito.delete_user_pool(UserPoolId=pool.pool_id)
    assert code_of(cognito.describe_user_pool, UserPoolId=pool.pool_id) == (
        "ResourceNotFoundException"
    )


def test_deleted_synthetic_user_is_gone(emulator: EmulatorHandle, cognito: Any) -> None:
    pool_id = emulator.health()["synthetic_pool_id"]
    ids = {"UserPoolId": pool_id, "Username": "user0000007"}
    cognito.admin_delete_user(**ids)
    assert code_of(cognito.admin_get_user, **ids) == "UserNotFoundException"
    names = [u["Username"] for u in cognito.list_users(UserPoolId=pool_id, Limit=10)["Users"]]
    assert "user0000007" not in names
    assert "user0000008" in names


def test_disabled_users_resend_answers_as_for_a_missing_user(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("lou")
    before = len(emulator.deliveries("lou"))
    pool.cognito.admin_disable_user(UserPoolId=pool.pool_id, Username="lou")
    error = pool.cognito.resend_confirmation_code
    assert code_of(error, ClientId=pool.client_id, Username="lou") == "UserNotFoundException"
    assert len(emulator.deliveries("lou")) == before
