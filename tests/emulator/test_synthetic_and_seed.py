"""The synthetic pool, seed files, and the handle's inspection calls."""

from __future__ import annotations

import json
import re
import resource
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cognito import code_of
from worker.contrib.emulator import (
    PUBLIC_CLIENT_ID,
    SECRET_CLIENT_ID,
    EmulatorConfig,
    EmulatorHandle,
    running_emulator,
    synthetic_client_secret,
)
from worker.contrib.emulator.common import secret_hash
from worker.contrib.emulator.seeding import SeedError


def test_a_million_users_ready_quickly_with_modest_memory() -> None:
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with running_emulator(EmulatorConfig(synthetic_users=1_000_000, seed=5)) as handle:
        ready = time.monotonic() - started
        client = handle.client()
        pool = client.describe_user_pool(UserPoolId="us-east-1_Synthetic1")["UserPool"]
        assert pool["EstimatedNumberOfUsers"] == 1_000_000
        last = client.resend_confirmation_code(
            ClientId=SECRET_CLIENT_ID,
            Username="user1000000",
            SecretHash=secret_hash(synthetic_client_secret(5), "user1000000", SECRET_CLIENT_ID),
        )
        assert last["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
        assert (
            code_of(
                client.resend_confirmation_code, ClientId=PUBLIC_CLIENT_ID, Username="user1000001"
            )
            == "UserNotFoundException"
        )
        user = client.admin_get_user(UserPoolId="us-east-1_Synthetic1", Username="user0500000")
        attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
        assert attributes["email"] == "user0500000@example.com"
        assert attributes["phone_number"] == "+15550500000"
    assert ready < 5.0
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert grown_mib < 100


def test_synthetic_ids_are_announced(emulator: EmulatorHandle) -> None:
    health = emulator.health()
    (pool,) = [p for p in health["pools"] if p["id"] == "us-east-1_Synthetic1"]
    clients = {c["id"]: c["secret"] for c in pool["clients"]}
    assert clients == {PUBLIC_CLIENT_ID: None, SECRET_CLIENT_ID: synthetic_client_secret(0)}


SEED = {
    "pools": [
        {
            "id": "eu-west-1_Seeded1",
            "name": "seeded",
            "auto_verified_attributes": ["email"],
            "email_sending_account": "DEVELOPER",
            "clients": [
                {"id": "seededweb00000000000000001", "name": "web"},
                {"id": "seededapi00000000000000001", "name": "api", "secret": "s" * 40},
            ],
            "users": [
                {"username": "alice", "email": "alice@example.com", "status": "UNCONFIRMED"},
                {
                    "username": "bert",
                    "email": "bert@example.com",
                    "phone_number": "+15555550100",
                    "status": "CONFIRMED",
                    "password": "Bert-Passw0rd!",
                },
            ],
        }
    ]
}


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(SEED))
    return path


def test_seed_file_pools_clients_and_users(seed_file: Path) -> None:
    with running_emulator(EmulatorConfig(seed_file=seed_file)) as handle:
        client = handle.client()
        pool = client.describe_user_pool(UserPoolId="eu-west-1_Seeded1")["UserPool"]
        assert pool["EmailConfiguration"]["EmailSendingAccount"] == "DEVELOPER"
        client.resend_confirmation_code(ClientId="seededweb00000000000000001", Username="alice")
        assert (
            code_of(
                client.resend_confirmation_code,
                ClientId="seededweb00000000000000001",
                Username="bert",
            )
            == "InvalidParameterException"
        )
        client.resend_confirmation_code(
            ClientId="seededapi00000000000000001",
            Username="alice",
            SecretHash=secret_hash("s" * 40, "alice", "seededapi00000000000000001"),
        )
        tokens = client.initiate_auth(
            ClientId="seededweb00000000000000001",
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "bert", "PASSWORD": "Bert-Passw0rd!"},
        )
        assert tokens["AuthenticationResult"]["AccessToken"]
        assert len(handle.deliveries("alice")) == 2
        # reset keeps pools unless asked; pools=True brings back the seeded state
        client.admin_confirm_sign_up(UserPoolId="eu-west-1_Seeded1", Username="alice")
        handle.reset()
        assert handle.deliveries() == []
        assert handle.stats()["totals"] == {}
        assert (
            code_of(
                client.resend_confirmation_code,
                ClientId="seededweb00000000000000001",
                Username="alice",
            )
            == "InvalidParameterException"
        )
        handle.reset(pools=True)
        client.resend_confirmation_code(ClientId="seededweb00000000000000001", Username="alice")


def test_seed_file_identity_settings(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    pool = {
        "id": "us-east-1_Emails1",
        "case_sensitive": False,
        "username_attributes": ["email"],
        "clients": [
            {"id": "hidingclient00000000000001", "prevent_user_existence_errors": "ENABLED"},
            {"id": "plainclient000000000000001"},
        ],
        "schema": [{"Name": "plan", "AttributeDataType": "String"}],
        "users": [
            {
                "username": "Kay@example.com",
                "status": "UNCONFIRMED",
                "attributes": {"custom:plan": "pro"},
            }
        ],
    }
    path.write_text(json.dumps({"pools": [pool]}))
    with running_emulator(EmulatorConfig(seed_file=path)) as handle:
        client = handle.client()
        user = client.admin_get_user(UserPoolId="us-east-1_Emails1", Username="kay@EXAMPLE.com")
        attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
        assert user["Username"] == attributes["sub"]
        assert attributes["email"] == "Kay@example.com"
        assert attributes["custom:plan"] == "pro"
        client.resend_confirmation_code(
            ClientId="plainclient000000000000001", Username="kay@example.com"
        )
        assert handle.deliveries(user["Username"])[0]["destination"] == "Kay@example.com"
        assert (
            code_of(
                client.resend_confirmation_code,
                ClientId="plainclient000000000000001",
                Username="lou@example.com",
            )
            == "UserNotFoundException"
        )
        hidden = client.resend_confirmation_code(
            ClientId="hidingclient00000000000001", Username="lou@example.com"
        )
        assert hidden["CodeDeliveryDetails"]["Destination"] == "l***@e***"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"pools": "nope"}, "'pools' list"),
        ({"pools": [{"users": [{"email": "x@example.com"}]}]}, "pools[0].users[0]: 'username'"),
        ("[]", "'pools' list"),
        ({"pools": [{"case_sensitive": "no"}]}, "pools[0]: case_sensitive must be"),
        ({"pools": [{"username_attributes": ["nickname"]}]}, "pools[0]: username_attributes"),
        (
            {"pools": [{"clients": [{"prevent_user_existence_errors": "ON"}]}]},
            "pools[0].clients[0]: prevent_user_existence_errors",
        ),
        (
            {"pools": [{"username_attributes": ["email"], "users": [{"username": "moe"}]}]},
            "pools[0].users[0]: Username should be either an email or a phone number.",
        ),
        (
            {"pools": [{"case_sensitive": False, "users": [{"username": "a"}, {"username": "A"}]}]},
            "pools[0].users[1]: duplicate username 'A'",
        ),
        ({"pools": [], "scripts": {}}, "'scripts' must be a list"),
        (
            {"pools": [{"schema": [{"Name": "plan"}]}]},
            "pools[0]: schema: Invalid AttributeDataType input",
        ),
        (
            {"pools": [{"users": [{"username": "a", "attributes": {"thing": "1"}}]}]},
            "pools[0].users[0]: Attributes did not conform to the schema: thing: Attribute",
        ),
    ],
)
def test_bad_seed_files_name_the_problem(tmp_path: Path, document: Any, expected: str) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(document))
    with (
        pytest.raises(SeedError, match=re.escape(expected)),
        running_emulator(EmulatorConfig(seed_file=path)),
    ):
        pass


def test_handle_connects_to_an_emulator_by_url(emulator: EmulatorHandle) -> None:
    other = EmulatorHandle.connect(emulator.endpoint_url)
    assert other.region == "us-east-1"
    other.client().resend_confirmation_code(ClientId=PUBLIC_CLIENT_ID, Username="user0000009")
    assert [d["username"] for d in emulator.deliveries()] == ["user0000009"]
    assert emulator.stats()["totals"] == {"ResendConfirmationCode": 1}


def test_handle_reports_an_emulator_that_is_not_there() -> None:
    handle = EmulatorHandle.connect("http://127.0.0.1:9")
    with pytest.raises(OSError, match="Connection refused"):
        handle.stats()
