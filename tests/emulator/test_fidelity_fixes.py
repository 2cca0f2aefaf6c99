"""Small fidelity fixes: Boolean attributes in any case, InitiateAuth's own wording for a
missing SECRET_HASH, pool and client ids that do not repeat after a pool reset."""

from __future__ import annotations

from typing import Any

from tests.support.cognito import error_of
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool


def test_email_verified_true_in_any_case_is_accepted(pool: UserPool) -> None:
    pool.cognito.admin_create_user(
        UserPoolId=pool.pool_id,
        Username="hank",
        UserAttributes=[
            {"Name": "email", "Value": "hank@example.com"},
            {"Name": "email_verified", "Value": "True"},
        ],
        MessageAction="SUPPRESS",
    )
    user = pool.cognito.admin_get_user(UserPoolId=pool.pool_id, Username="hank")
    assert {"Name": "email_verified", "Value": "True"} in user["UserAttributes"]
    error = error_of(
        pool.cognito.admin_create_user,
        UserPoolId=pool.pool_id,
        Username="ivan",
        UserAttributes=[{"Name": "email_verified", "Value": "yes"}],
        MessageAction="SUPPRESS",
    )
    assert error.response["Error"]["Code"] == "InvalidParameterException"


def test_initiate_auth_names_the_missing_secret_hash(pool: UserPool) -> None:
    pool.add_user("jill", confirmed=True)
    error = error_of(
        pool.cognito.initiate_auth,
        ClientId=pool.secret_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "jill", "PASSWORD": pool.password},
    )
    assert error.response["Error"]["Code"] == "NotAuthorizedException"
    assert error.response["Error"]["Message"] == (
        f"Client {pool.secret_client_id} is configured with secret but SECRET_HASH was not received"
    )


def test_pool_and_client_ids_do_not_repeat_after_a_pool_reset(
    emulator: EmulatorHandle, cognito: Any
) -> None:
    before = cognito.create_user_pool(PoolName="one")["UserPool"]["Id"]
    client_before = cognito.create_user_pool_client(UserPoolId=before, ClientName="c")
    emulator.reset(pools=True)
    after = cognito.create_user_pool(PoolName="one")["UserPool"]["Id"]
    client_after = cognito.create_user_pool_client(UserPoolId=after, ClientName="c")
    assert after != before
    assert client_after["UserPoolClient"]["ClientId"] != client_before["UserPoolClient"]["ClientId"]
    listed = {p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]}
    assert before not in listed
    assert after in listed
