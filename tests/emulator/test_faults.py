"""Latency and fault injection, scripted and random (seeded)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import (
    EmulatorConfig,
    EmulatorError,
    EmulatorHandle,
    FaultConfig,
    running_emulator,
)
from worker.contrib.emulator.pools import UserPool, make_pool

PUBLIC = "synthetic0client0000000001"


def test_scripted_errors_in_order_then_normal(
    cognito: Any, emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("jay")
    emulator.script(
        operation="ResendConfirmationCode",
        username="jay",
        errors=["InternalErrorException", "500", "drop", "TooManyRequestsException", "slow:300"],
    )
    resend = cognito.resend_confirmation_code

    internal = error_of(resend, ClientId=pool.client_id, Username="jay")
    assert internal.response["Error"]["Code"] == "InternalErrorException"
    assert internal.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    bare = error_of(resend, ClientId=pool.client_id, Username="jay")
    assert bare.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert bare.response["Error"]["Code"] == "500"

    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        resend(ClientId=pool.client_id, Username="jay")

    assert code_of(resend, ClientId=pool.client_id, Username="jay") == ("TooManyRequestsException")

    started = time.monotonic()
    resend(ClientId=pool.client_id, Username="jay")
    assert time.monotonic() - started >= 0.3

    resend(ClientId=pool.client_id, Username="jay")
    # only the slow call and the last one delivered; injected faults did not count
    assert len([d for d in emulator.deliveries("jay") if d["operation"] != "SignUp"]) == 2
    stats = emulator.stats()
    assert stats["errors"]["InternalErrorException"] == 1
    assert stats["errors"]["500"] == 1
    assert stats["errors"]["drop"] == 1


def test_script_for_one_user_spares_others(cognito: Any, emulator: EmulatorHandle) -> None:
    emulator.script(
        operation="ResendConfirmationCode", username="user0000002", errors=["ForbiddenException"]
    )
    cognito.resend_confirmation_code(ClientId=PUBLIC, Username="user0000001")
    error = error_of(cognito.resend_confirmation_code, ClientId=PUBLIC, Username="user0000002")
    assert error.response["Error"]["Code"] == "ForbiddenException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_script_for_any_user_on_attribute_verification(
    cognito: Any, emulator: EmulatorHandle, access_token: str
) -> None:
    emulator.script(
        operation="GetUserAttributeVerificationCode",
        errors=["CodeDeliveryFailureException:no carrier"],
    )
    error = error_of(
        cognito.get_user_attribute_verification_code,
        AccessToken=access_token,
        AttributeName="email",
    )
    assert error.response["Error"] == {
        "Code": "CodeDeliveryFailureException",
        "Message": "no carrier",
    }


def test_scripts_that_cannot_be_read_are_refused(emulator: EmulatorHandle) -> None:
    from worker.contrib.emulator import EmulatorError

    with pytest.raises(EmulatorError, match="bad script"):
        emulator.script(operation="ResendConfirmationCode", errors=["slow:soon"])
    with pytest.raises(EmulatorError, match="unknown operation"):
        emulator.script(operation="Nope", errors=["500"])


def _outcomes(seed: int, calls: int) -> list[str]:
    config = EmulatorConfig(
        synthetic_users=1000,
        seed=seed,
        per_user_hourly_cap=0,
        user_resource_read_per_second=None,
        faults=FaultConfig(internal_error=0.2, bare_5xx=0.2, drop=0.1),
    )
    results = []
    with running_emulator(config) as handle:
        client = handle.client()
        for i in range(calls):
            try:
                client.resend_confirmation_code(ClientId=PUBLIC, Username=f"user{i + 1:07d}")
                results.append("ok")
            except ClientError as exc:
                results.append(str(exc.response["Error"]["Code"]))
            except (ConnectionClosedError, EndpointConnectionError):
                results.append("drop")
    return results


def test_random_faults_are_reproducible_with_a_seed() -> None:
    first = _outcomes(7, 60)
    assert first == _outcomes(7, 60)
    assert {"ok", "InternalErrorException", "500", "drop"} <= set(first)
    assert first != _outcomes(8, 60)


def test_latency_and_faults_configured_at_run_time(cognito: Any, emulator: EmulatorHandle) -> None:
    emulator.configure(latency={"fixed_ms": 120.0, "jitter_ms": 20.0})
    started = time.monotonic()
    cognito.resend_confirmation_code(ClientId=PUBLIC, Username="user0000001")
    assert time.monotonic() - started >= 0.12
    emulator.configure(latency={"fixed_ms": 0.0, "jitter_ms": 0.0}, faults={"internal_error": 1.0})
    assert code_of(cognito.resend_confirmation_code, ClientId=PUBLIC, Username="user0000001") == (
        "InternalErrorException"
    )
    # set-up operations are outside the fault set
    cognito.describe_user_pool(UserPoolId="us-east-1_Synthetic1")
    emulator.configure(faults={"internal_error": 0.0})
    cognito.resend_confirmation_code(ClientId=PUBLIC, Username="user0000001")


def test_bad_run_time_settings_are_refused(emulator: EmulatorHandle) -> None:
    from worker.contrib.emulator import EmulatorError

    with pytest.raises(EmulatorError, match="probability"):
        emulator.configure(faults={"drop": 2.0})
    with pytest.raises(EmulatorError, match="unknown setting"):
        emulator.configure(warp_speed=9)


def test_named_answers_object_entries_and_repeats(
    cognito: Any, emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("ivy")
    emulator.script(
        operation="ResendConfirmationCode",
        errors=[
            "@daily-email-limit*2",
            {"code": "LimitExceededException", "message": "a: message, with; anything*3"},
            "@attempt-limit",
        ],
    )
    answers = [
        error_of(cognito.resend_confirmation_code, ClientId=pool.client_id, Username="ivy")
        for _ in range(4)
    ]
    daily = (
        "Exceeded daily email limit for the operation or the account. If a higher limit is "
        "required, please configure your user pool to use your own Amazon SES configuration "
        "for sending email."
    )
    assert [a.response["Error"] for a in answers] == [
        {"Code": "LimitExceededException", "Message": daily},
        {"Code": "LimitExceededException", "Message": daily},
        {"Code": "LimitExceededException", "Message": "a: message, with; anything*3"},
        {
            "Code": "LimitExceededException",
            "Message": "Attempt limit exceeded, please try after some time.",
        },
    ]
    assert all(a.response["ResponseMetadata"]["HTTPStatusCode"] == 400 for a in answers)
    cognito.resend_confirmation_code(ClientId=pool.client_id, Username="ivy")


@pytest.mark.parametrize(
    "errors",
    [["@no-such-answer"], [{"message": "no code"}], [{"code": "X", "extra": 1}], [42], ["500*x"]],
)
def test_unreadable_script_entries_are_refused_whole(
    emulator: EmulatorHandle, errors: list[Any]
) -> None:
    with pytest.raises(EmulatorError, match=r"HTTP 400: .*bad script"):
        emulator.script(
            operation="ResendConfirmationCode", errors=["InternalErrorException", *errors]
        )
    # nothing of a refused script was queued
    emulator.client().resend_confirmation_code(ClientId=PUBLIC, Username="user0000001")


def test_scripts_from_configuration_and_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "pools": [],
                "scripts": [
                    {
                        "operation": "ResendConfirmationCode",
                        "username": "user0000002",
                        "errors": ["@attempt-limit"],
                    }
                ],
            }
        )
    )
    config = EmulatorConfig(
        synthetic_users=10,
        seed_file=seed,
        scripts=(("ResendConfirmationCode", "@daily-email-limit*2"),),
    )
    with running_emulator(config) as handle:
        cognito = handle.client()

        def message(username: str) -> str:
            error = error_of(cognito.resend_confirmation_code, ClientId=PUBLIC, Username=username)
            return str(error.response["Error"]["Message"])

        assert message("user0000001").startswith("Exceeded daily email limit")
        assert message("user0000002").startswith("Exceeded daily email limit")
        assert message("user0000002").startswith("Attempt limit exceeded")
        cognito.resend_confirmation_code(ClientId=PUBLIC, Username="user0000002")
        handle.reset(pools=True)  # brings the start-up scripts back
        assert message("user0000003").startswith("Exceeded daily email limit")


@pytest.mark.parametrize(
    ("scripts", "seed_scripts", "expected"),
    [
        ((("NoSuchOperation", "@throttled"),), [], "--script NoSuchOperation: unknown"),
        ((("ListUsers", "@nope"),), [], "--script ListUsers: unknown named answer"),
        ((), [{"operation": "ListUsers", "errors": "x"}], "scripts[0]: 'errors' must be a list"),
        ((), [{"operation": "ListUsers", "errors": ["?"]}], "scripts[0]: unreadable"),
    ],
)
def test_bad_start_up_scripts_stop_start_up(
    tmp_path: Path, scripts: Any, seed_scripts: list[Any], expected: str
) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"pools": [], "scripts": seed_scripts}))
    with (
        pytest.raises(ValueError, match=re.escape(expected)),
        running_emulator(EmulatorConfig(seed_file=seed, scripts=scripts)),
    ):
        pass


def test_a_script_for_a_user_answers_every_name_of_that_user(
    cognito: Any, emulator: EmulatorHandle
) -> None:
    pool = make_pool(cognito, "ci", case_sensitive=False)
    pool.add_user("Alice", email="alice@example.com")
    client_id = pool.client_id
    emulator.script(
        operation="ResendConfirmationCode", username="alice", errors=["@attempt-limit*2"]
    )
    for name in ("ALICE", "aLiCe"):
        error = error_of(cognito.resend_confirmation_code, ClientId=client_id, Username=name)
        assert error.response["Error"]["Message"] == (
            "Attempt limit exceeded, please try after some time."
        )
    cognito.resend_confirmation_code(ClientId=client_id, Username="ALICE")
    # a script for a name no user goes by never matches another user
    emulator.script(operation="ResendConfirmationCode", username="bob", errors=["500"])
    cognito.resend_confirmation_code(ClientId=client_id, Username="alice")
