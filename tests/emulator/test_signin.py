"""AdminInitiateAuth and the NEW_PASSWORD_REQUIRED challenge, through boto3."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cognito import code_of
from worker.contrib.emulator.pools import UserPool

_TEMPORARY = "Temp-Passw0rd!"
_NEW = "Brand-New-Passw0rd!"


def _created(pool: UserPool, name: str) -> None:
    pool.cognito.admin_create_user(
        UserPoolId=pool.pool_id,
        Username=name,
        TemporaryPassword=_TEMPORARY,
        UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}],
        MessageAction="SUPPRESS",
    )


@pytest.mark.parametrize("flow", ["ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"])
def test_admin_sign_in_of_a_confirmed_user(pool: UserPool, flow: str) -> None:
    pool.add_user("mia", confirmed=True)
    answer = pool.cognito.admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow=flow,  # type: ignore[arg-type]
        AuthParameters={"USERNAME": "mia", "PASSWORD": pool.password},
    )
    token = answer["AuthenticationResult"]["AccessToken"]
    assert pool.cognito.get_user(AccessToken=token)["Username"] == "mia"
    assert "RefreshToken" in answer["AuthenticationResult"]
    wrong = code_of(
        pool.cognito.admin_initiate_auth,
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow=flow,
        AuthParameters={"USERNAME": "mia", "PASSWORD": "Wrong-Passw0rd!"},
    )
    assert wrong == "NotAuthorizedException"


def test_admin_created_user_sets_a_password(pool: UserPool) -> None:
    _created(pool, "ned")
    cognito: Any = pool.cognito
    challenge = cognito.admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ned", "PASSWORD": _TEMPORARY},
    )
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    answer = cognito.admin_respond_to_auth_challenge(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "ned", "NEW_PASSWORD": _NEW},
    )
    assert "AccessToken" in answer["AuthenticationResult"]
    user = cognito.admin_get_user(UserPoolId=pool.pool_id, Username="ned")
    assert user["UserStatus"] == "CONFIRMED"
    reused = code_of(
        cognito.respond_to_auth_challenge,
        ClientId=pool.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "ned", "NEW_PASSWORD": _NEW},
    )
    assert reused == "NotAuthorizedException"


def test_public_challenge_answer_and_weak_password(pool: UserPool) -> None:
    _created(pool, "ola")
    cognito: Any = pool.cognito
    challenge = cognito.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ola", "PASSWORD": _TEMPORARY},
    )
    weak = code_of(
        cognito.respond_to_auth_challenge,
        ClientId=pool.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "ola", "NEW_PASSWORD": "short"},
    )
    assert weak == "InvalidPasswordException"
    again = cognito.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ola", "PASSWORD": _TEMPORARY},
    )
    answer = cognito.respond_to_auth_challenge(
        ClientId=pool.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=again["Session"],
        ChallengeResponses={"USERNAME": "ola", "NEW_PASSWORD": _NEW},
    )
    assert cognito.get_user(AccessToken=answer["AuthenticationResult"]["AccessToken"])
