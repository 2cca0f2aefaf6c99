"""Fixtures: an in-process emulator per test, a boto3 client on it, and a small pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator
from worker.contrib.emulator.common import secret_hash

PASSWORD = "Corr3ct-Horse!"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Override in a test module (or parametrize) to start the emulator differently."""
    return EmulatorConfig(synthetic_users=1000)


@pytest.fixture
def emulator(emulator_config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    with running_emulator(emulator_config) as handle:
        yield handle


@pytest.fixture
def cognito(emulator: EmulatorHandle) -> Any:
    return emulator.client()


@dataclass
class PoolIds:
    pool_id: str
    public_client: str
    secret_client: str
    secret: str

    def hash_for(self, username: str) -> str:
        return secret_hash(self.secret, username, self.secret_client)


@pytest.fixture
def pool(cognito: Any) -> PoolIds:
    pool_id = cognito.create_user_pool(PoolName="test", AutoVerifiedAttributes=["email"])[
        "UserPool"
    ]["Id"]
    public = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web")
    private = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="backend", GenerateSecret=True
    )
    return PoolIds(
        pool_id=pool_id,
        public_client=public["UserPoolClient"]["ClientId"],
        secret_client=private["UserPoolClient"]["ClientId"],
        secret=private["UserPoolClient"]["ClientSecret"],
    )


@pytest.fixture
def sign_up(cognito: Any, pool: PoolIds) -> Callable[..., str]:
    """Sign a user up through the public client; returns the username."""

    def make(username: str, *, email: str | None = None, phone: str | None = None) -> str:
        attributes = [{"Name": "email", "Value": email or f"{username}@example.com"}]
        if phone:
            attributes.append({"Name": "phone_number", "Value": phone})
        cognito.sign_up(
            ClientId=pool.public_client,
            Username=username,
            Password=PASSWORD,
            UserAttributes=attributes,
        )
        return username

    return make


@pytest.fixture
def access_token(cognito: Any, pool: PoolIds, sign_up: Callable[..., str]) -> str:
    """An access token of the confirmed user ``carol`` (email and phone set)."""
    sign_up("carol", email="carol@example.org", phone="+12065550100")
    cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username="carol")
    result = cognito.initiate_auth(
        ClientId=pool.public_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "carol", "PASSWORD": PASSWORD},
    )
    token: str = result["AuthenticationResult"]["AccessToken"]
    return token


def error_of(call: Callable[..., Any], **kwargs: Any) -> ClientError:
    """The ClientError that ``call(**kwargs)`` raises (fails the test otherwise)."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value


def code_of(call: Callable[..., Any], **kwargs: Any) -> str:
    """The error code botocore parsed from the answer to ``call(**kwargs)``."""
    return str(error_of(call, **kwargs).response["Error"]["Code"])
