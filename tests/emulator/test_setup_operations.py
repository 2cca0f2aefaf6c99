"""Set-up calls: pools, clients, users, auth, and IAM signing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore
import jwt
from botocore.config import Config

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import DEFAULT_PASSWORD as PASSWORD
from worker.contrib.emulator.pools import UserPool


def test_describe_user_pool_email_sending_account(cognito: Any) -> None:
    default = cognito.create_user_pool(PoolName="a")["UserPool"]["Id"]
    developer = cognito.create_user_pool(
        PoolName="b",
        EmailConfiguration={
            "EmailSendingAccount": "DEVELOPER",
            "SourceArn": "arn:aws:ses:us-east-1:000000000000:identity/example.com",
        },
    )["UserPool"]["Id"]
    first = cognito.describe_user_pool(UserPoolId=default)["UserPool"]
    assert first["EmailConfiguration"]["EmailSendingAccount"] == "COGNITO_DEFAULT"
    assert first["Arn"].endswith(f"userpool/{default}")
    second = cognito.describe_user_pool(UserPoolId=developer)["UserPool"]
    assert second["EmailConfiguration"]["EmailSendingAccount"] == "DEVELOPER"
    assert code_of(cognito.describe_user_pool, UserPoolId="us-east-1_Nope") == (
        "ResourceNotFoundException"
    )


def test_sign_up_with_secret_hash_and_user_states(
    cognito: Any, pool: UserPool, emulator: EmulatorHandle
) -> None:
    assert (
        code_of(cognito.sign_up, ClientId=pool.secret_client_id, Username="eve", Password=PASSWORD)
        == "NotAuthorizedException"
    )
    answer = cognito.sign_up(
        ClientId=pool.secret_client_id,
        Username="eve",
        Password=PASSWORD,
        SecretHash=pool.secret_hash("eve"),
        UserAttributes=[{"Name": "email", "Value": "eve@example.com"}],
    )
    assert answer["UserConfirmed"] is False
    assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert emulator.deliveries("eve")[0]["operation"] == "SignUp"
    user = cognito.admin_get_user(UserPoolId=pool.pool_id, Username="eve")
    assert user["UserStatus"] == "UNCONFIRMED"
    assert (
        code_of(
            cognito.sign_up,
            ClientId=pool.client_id,
            Username="eve",
            Password=PASSWORD,
        )
        == "UsernameExistsException"
    )
    assert (
        code_of(cognito.sign_up, ClientId=pool.client_id, Username="weak", Password="password")
        == "InvalidPasswordException"
    )


def test_initiate_auth_states(cognito: Any, pool: UserPool, sign_up: Callable[..., str]) -> None:
    def login(username: str, password: str = PASSWORD) -> Any:
        return cognito.initiate_auth(
            ClientId=pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )

    sign_up("fay")
    assert code_of(login, username="fay") == "UserNotConfirmedException"
    cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username="fay")
    assert code_of(login, username="fay", password="Wrong-pass1") == "NotAuthorizedException"
    assert code_of(login, username="ghost") == "UserNotFoundException"
    result = login("fay")["AuthenticationResult"]
    assert result["TokenType"] == "Bearer"
    assert result["ExpiresIn"] == 3600
    assert result["AccessToken"].count(".") == 2
    assert result["IdToken"].count(".") == 2
    assert result["RefreshToken"]
    assert (
        code_of(cognito.admin_confirm_sign_up, UserPoolId=pool.pool_id, Username="fay")
        == "NotAuthorizedException"
    )


def test_admin_create_user_needs_a_new_password(cognito: Any, pool: UserPool) -> None:
    created = cognito.admin_create_user(
        UserPoolId=pool.pool_id,
        Username="gil",
        TemporaryPassword="Temp-Passw0rd!",
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": "gil@example.com"}],
    )["User"]
    assert created["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    challenge = cognito.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "gil", "PASSWORD": "Temp-Passw0rd!"},
    )
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    cognito.admin_set_user_password(
        UserPoolId=pool.pool_id, Username="gil", Password=PASSWORD, Permanent=True
    )
    assert cognito.admin_get_user(UserPoolId=pool.pool_id, Username="gil")["UserStatus"] == (
        "CONFIRMED"
    )
    assert (
        code_of(cognito.admin_create_user, UserPoolId=pool.pool_id, Username="gil")
        == "UsernameExistsException"
    )


def test_describe_client_and_list_pools(cognito: Any, pool: UserPool) -> None:
    described = cognito.describe_user_pool_client(
        UserPoolId=pool.pool_id, ClientId=pool.secret_client_id
    )["UserPoolClient"]
    assert described["ClientSecret"] == pool.client_secret
    ids = {p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]}
    assert pool.pool_id in ids
    assert "us-east-1_Synthetic1" in ids


def test_unsigned_iam_call_is_refused_but_public_calls_pass(
    emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    unsigned = boto3.client(
        "cognito-idp",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        config=Config(signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}),
    )
    error = error_of(unsigned.list_users, UserPoolId=pool.pool_id)
    assert error.response["Error"] == {
        "Code": "MissingAuthenticationTokenException",
        "Message": "Missing Authentication Token",
    }
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sign_up("hal")
    details = unsigned.resend_confirmation_code(ClientId=pool.client_id, Username="hal")
    assert details["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"


def test_pool_settings_are_stored_and_echoed(cognito: Any) -> None:
    lambdas = {
        "PreSignUp": "arn:aws:lambda:us-east-1:000000000000:function:pre",
        "CustomMessage": "arn:aws:lambda:us-east-1:000000000000:function:msg",
    }
    recovery = {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]}
    template = {
        "DefaultEmailOption": "CONFIRM_WITH_LINK",
        "EmailMessageByLink": "Click {##here##}",
        "EmailSubjectByLink": "Welcome",
        "SmsMessage": "Code {####}",
    }
    created = cognito.create_user_pool(
        PoolName="configured",
        LambdaConfig=lambdas,
        AccountRecoverySetting=recovery,
        VerificationMessageTemplate=template,
        EmailVerificationMessage="Your code: {####}",
        EmailVerificationSubject="Verify",
        DeletionProtection="ACTIVE",
        MfaConfiguration="OPTIONAL",
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]
    described = cognito.describe_user_pool(UserPoolId=created["Id"])["UserPool"]
    for pool in (created, described):
        assert pool["LambdaConfig"] == lambdas
        assert pool["AccountRecoverySetting"] == recovery
        assert pool["VerificationMessageTemplate"] == {
            **template,
            "EmailMessage": "Your code: {####}",
            "EmailSubject": "Verify",
        }
        assert pool["EmailVerificationMessage"] == "Your code: {####}"
        assert pool["EmailVerificationSubject"] == "Verify"
        assert pool["SmsVerificationMessage"] == "Code {####}"
        assert pool["DeletionProtection"] == "ACTIVE"
        assert pool["MfaConfiguration"] == "OPTIONAL"
        assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
        assert pool["CreationDate"] == pool["LastModifiedDate"]
    listed = cognito.list_user_pools(MaxResults=60)["UserPools"]
    assert [p["LambdaConfig"] for p in listed if p["Id"] == created["Id"]] == [lambdas]
    plain = cognito.create_user_pool(PoolName="plain")["UserPool"]
    assert plain["LambdaConfig"] == {}
    assert "AccountRecoverySetting" not in plain
    assert plain["VerificationMessageTemplate"] == {"DefaultEmailOption": "CONFIRM_WITH_CODE"}


def test_client_settings_are_echoed_and_token_validity_applies(cognito: Any) -> None:
    pool_id = cognito.create_user_pool(PoolName="oauth")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        CallbackURLs=["https://app.example.com/callback"],
        LogoutURLs=["https://app.example.com/bye"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email"],
        AllowedOAuthFlowsUserPoolClient=True,
        SupportedIdentityProviders=["COGNITO"],
        AccessTokenValidity=5,
        IdTokenValidity=2,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "hours"},
    )["UserPoolClient"]
    described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client["ClientId"])[
        "UserPoolClient"
    ]
    for doc in (client, described):
        assert doc["CallbackURLs"] == ["https://app.example.com/callback"]
        assert doc["LogoutURLs"] == ["https://app.example.com/bye"]
        assert doc["AllowedOAuthFlows"] == ["code"]
        assert doc["AllowedOAuthScopes"] == ["openid", "email"]
        assert doc["AllowedOAuthFlowsUserPoolClient"] is True
        assert doc["RefreshTokenValidity"] == 30
        assert doc["AccessTokenValidity"] == 5
    cognito.admin_create_user(UserPoolId=pool_id, Username="olga")
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="olga", Password=PASSWORD, Permanent=True
    )
    result = cognito.initiate_auth(
        ClientId=client["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "olga", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    assert result["ExpiresIn"] == 300
    access = jwt.decode(result["AccessToken"], options={"verify_signature": False})
    identity = jwt.decode(result["IdToken"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] in (300, 301)
    assert identity["exp"] - identity["iat"] in (7200, 7201)
