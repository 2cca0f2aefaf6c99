"""Tokens as Cognito issues them: RS256 verified by PyJWT against the pool's JWKS over
HTTP, Cognito's claims, REFRESH_TOKEN_AUTH, and the Region the client called."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any

import boto3
import jwt
import pytest
from botocore.config import Config

from tests.support.cognito import error_of
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle
from worker.contrib.emulator.common import secret_hash
from worker.contrib.emulator.pools import DEFAULT_PASSWORD as PASSWORD
from worker.contrib.emulator.pools import UserPool, make_pool
from worker.identity.clients import ClientRegistry
from worker.identity.tokens import TokenVerifier


def _sign_in(cognito: Any, client_id: str, username: str, **extra: str) -> dict[str, Any]:
    result: dict[str, Any] = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD, **extra},
    )["AuthenticationResult"]
    return result


def _verified(emulator: EmulatorHandle, pool_id: str, token: str, **options: Any) -> Any:
    """The claims of ``token`` as a resource server checks them: PyJWT, the pool's JWKS."""
    keys = jwt.PyJWKClient(f"{emulator.endpoint_url}/{pool_id}/.well-known/jwks.json")
    key = keys.get_signing_key_from_jwt(token)
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    return jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer, **options)


@pytest.fixture
def schema_pool(cognito: Any) -> UserPool:
    pool = make_pool(
        cognito,
        "tokens",
        schema=[
            {"Name": "plan", "AttributeDataType": "String"},
            {"Name": "hidden", "AttributeDataType": "String", "DeveloperOnlyAttribute": True},
        ],
    )
    pool_id = pool.pool_id
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username="ada",
        UserAttributes=[
            {"Name": "email", "Value": "ada@example.com"},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "given_name", "Value": "Ada"},
            {"Name": "custom:plan", "Value": "pro"},
            {"Name": "dev:custom:hidden", "Value": "secret-ish"},
        ],
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username="ada", Password=PASSWORD, Permanent=True
    )
    return pool


def test_tokens_verify_against_the_pools_jwks_with_cognitos_claims(
    cognito: Any, emulator: EmulatorHandle, schema_pool: UserPool
) -> None:
    tokens = _sign_in(cognito, schema_pool.client_id, "ada")
    access = _verified(emulator, schema_pool.pool_id, tokens["AccessToken"])
    identity = _verified(
        emulator, schema_pool.pool_id, tokens["IdToken"], audience=schema_pool.client_id
    )
    assert list(access) == [
        "sub",
        "iss",
        "client_id",
        "origin_jti",
        "event_id",
        "token_use",
        "scope",
        "auth_time",
        "exp",
        "iat",
        "jti",
        "username",
    ]
    assert access["token_use"] == "access"
    assert access["scope"] == "aws.cognito.signin.user.admin"
    assert access["client_id"] == schema_pool.client_id
    assert access["username"] == "ada"
    assert identity["token_use"] == "id"
    assert identity["cognito:username"] == "ada"
    assert identity["email_verified"] is True
    assert identity["email"] == "ada@example.com"
    assert identity["given_name"] == "Ada"
    assert identity["custom:plan"] == "pro"
    assert not any(name.startswith("dev:") for name in identity)
    for claim in ("jti", "origin_jti", "event_id", "auth_time"):
        assert identity[claim]
    assert identity["origin_jti"] == access["origin_jti"]
    assert identity["event_id"] == access["event_id"]
    assert identity["jti"] != access["jti"]
    assert identity["sub"] == access["sub"]
    uuid.UUID(access["sub"])
    # two keys, as Cognito: the access token's kid is not the ID token's
    header_access = jwt.get_unverified_header(tokens["AccessToken"])
    header_id = jwt.get_unverified_header(tokens["IdToken"])
    assert header_access["alg"] == header_id["alg"] == "RS256"
    assert header_access["kid"] != header_id["kid"]


def test_jwks_document_and_isolation_between_pools(
    cognito: Any, emulator: EmulatorHandle, schema_pool: UserPool, pool: UserPool
) -> None:
    url = f"{emulator.endpoint_url}/{schema_pool.pool_id}/.well-known/jwks.json"
    with urllib.request.urlopen(url, timeout=10) as response:
        document = json.loads(response.read())
    assert len(document["keys"]) == 2
    for key in document["keys"]:
        assert set(key) == {"alg", "e", "kid", "kty", "n", "use"}
        assert (key["alg"], key["kty"], key["use"], key["e"]) == ("RS256", "RSA", "sig", "AQAB")
    tokens = _sign_in(cognito, schema_pool.client_id, "ada")
    other = jwt.PyJWKClient(f"{emulator.endpoint_url}/{pool.pool_id}/.well-known/jwks.json")
    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        other.get_signing_key_from_jwt(tokens["AccessToken"])
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(
            f"{emulator.endpoint_url}/us-east-1_Nope/.well-known/jwks.json", timeout=10
        )
    assert missing.value.code == 404
    missing.value.close()
    config_url = f"{emulator.endpoint_url}/{schema_pool.pool_id}/.well-known/openid-configuration"
    with urllib.request.urlopen(config_url, timeout=10) as response:
        openid = json.loads(response.read())
    assert openid["jwks_uri"] == url
    assert openid["issuer"].endswith(f"/{schema_pool.pool_id}")


def test_a_forged_or_foreign_token_is_refused(
    cognito: Any, emulator: EmulatorHandle, schema_pool: UserPool
) -> None:
    tokens = _sign_in(cognito, schema_pool.client_id, "ada")
    header, _, signature = tokens["AccessToken"].split(".")
    kid = jwt.get_unverified_header(tokens["AccessToken"])["kid"]
    claims = jwt.decode(tokens["AccessToken"], options={"verify_signature": False})
    claims["username"] = "someone-else"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    for token in (
        f"{header}.{forged_payload}.{signature}",
        tokens["IdToken"],  # an ID token is not an access token
        jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": kid}),
    ):
        error = error_of(
            cognito.get_user_attribute_verification_code, AccessToken=token, AttributeName="email"
        )
        assert error.response["Error"] == {
            "Code": "NotAuthorizedException",
            "Message": "Invalid Access Token",
        }


def test_refresh_token_auth_keeps_the_sign_in(
    cognito: Any, emulator: EmulatorHandle, schema_pool: UserPool
) -> None:
    first = _sign_in(cognito, schema_pool.client_id, "ada")
    time.sleep(1.1)  # auth_time must not move on a refresh; iat must
    again = cognito.initiate_auth(
        ClientId=schema_pool.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )["AuthenticationResult"]
    assert "RefreshToken" not in again
    assert again["TokenType"] == "Bearer"
    old = _verified(emulator, schema_pool.pool_id, first["AccessToken"])
    new = _verified(emulator, schema_pool.pool_id, again["AccessToken"])
    assert new["auth_time"] == old["auth_time"]
    assert new["origin_jti"] == old["origin_jti"]
    assert new["iat"] > old["iat"]
    assert new["jti"] != old["jti"]
    # the refreshed token works where the project uses it
    answer = cognito.get_user_attribute_verification_code(
        AccessToken=again["AccessToken"], AttributeName="email"
    )
    assert answer["CodeDeliveryDetails"]["Destination"] == "a***@e***"
    # the legacy alias works too
    alias = cognito.initiate_auth(
        ClientId=schema_pool.client_id,
        AuthFlow="REFRESH_TOKEN",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )
    assert alias["AuthenticationResult"]["AccessToken"]


def test_refresh_token_refusals(cognito: Any, schema_pool: UserPool) -> None:
    first = _sign_in(cognito, schema_pool.client_id, "ada")
    for client_id, token in [
        (schema_pool.client_id, "not-a-refresh-token"),
        (schema_pool.secret_client_id, first["RefreshToken"]),  # another client's token
    ]:
        error = error_of(
            cognito.initiate_auth,
            ClientId=client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={
                "REFRESH_TOKEN": token,
                "SECRET_HASH": secret_hash(
                    schema_pool.client_secret, "ada", schema_pool.secret_client_id
                ),
            },
        )
        assert error.response["Error"] == {
            "Code": "NotAuthorizedException",
            "Message": "Invalid Refresh Token.",
        }
    secret_tokens = _sign_in(
        cognito,
        schema_pool.secret_client_id,
        "ada",
        SECRET_HASH=secret_hash(schema_pool.client_secret, "ada", schema_pool.secret_client_id),
    )
    missing_hash = error_of(
        cognito.initiate_auth,
        ClientId=schema_pool.secret_client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": secret_tokens["RefreshToken"]},
    )
    assert missing_hash.response["Error"]["Code"] == "NotAuthorizedException"
    refreshed = cognito.initiate_auth(
        ClientId=schema_pool.secret_client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={
            "REFRESH_TOKEN": secret_tokens["RefreshToken"],
            "SECRET_HASH": secret_hash(
                schema_pool.client_secret, "ada", schema_pool.secret_client_id
            ),
        },
    )
    assert refreshed["AuthenticationResult"]["IdToken"]


@pytest.mark.parametrize(
    "emulator_config",
    [EmulatorConfig(access_token_lifetime_seconds=0.5)],
    ids=["token-half-second"],
)
def test_an_expired_access_token_is_renewed_by_refresh(cognito: Any, schema_pool: UserPool) -> None:
    first = _sign_in(cognito, schema_pool.client_id, "ada")
    time.sleep(0.7)
    expired = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=first["AccessToken"],
        AttributeName="email",
    )
    assert expired.response["Error"]["Message"] == "Access Token has expired"
    again = cognito.initiate_auth(
        ClientId=schema_pool.client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )["AuthenticationResult"]
    cognito.get_user_attribute_verification_code(
        AccessToken=again["AccessToken"], AttributeName="email"
    )


def test_pool_ids_arns_and_issuer_follow_the_region_the_client_called(
    emulator: EmulatorHandle,
) -> None:
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=emulator.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(retries={"total_max_attempts": 1}),
    )
    pool = cognito.create_user_pool(PoolName="dublin", AutoVerifiedAttributes=["email"])["UserPool"]
    assert pool["Id"].startswith("eu-west-1_")
    assert pool["Arn"] == f"arn:aws:cognito-idp:eu-west-1:000000000000:userpool/{pool['Id']}"
    client_id = cognito.create_user_pool_client(UserPoolId=pool["Id"], ClientName="c")[
        "UserPoolClient"
    ]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool["Id"], Username="eve")
    cognito.admin_set_user_password(
        UserPoolId=pool["Id"], Username="eve", Password=PASSWORD, Permanent=True
    )
    token = _sign_in(cognito, client_id, "eve")["AccessToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"https://cognito-idp.eu-west-1.amazonaws.com/{pool['Id']}"
    verified = TokenVerifier(
        ClientRegistry({}, default_region=None),
        endpoint_url=emulator.endpoint_url,
        timeout_seconds=3,
    ).verify(token)
    assert verified.user_key == f"{claims['iss']}|eve"
    assert verified.region == "eu-west-1"
    # the emulator's own region still names pools created through its region
    assert (
        emulator.client().create_user_pool(PoolName="x")["UserPool"]["Id"].startswith("us-east-1_")
    )
