"""Latency and fault injection, scripted and random (seeded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from tests.emulator.conftest import PoolIds, code_of, error_of
from worker.emulator import EmulatorConfig, EmulatorHandle, FaultConfig, running_emulator

PUBLIC = "synthetic0client0000000001"


def test_scripted_errors_in_order_then_normal(
    cognito: Any, emulator: EmulatorHandle, pool: PoolIds, sign_up: Callable[..., str]
) -> None:
    sign_up("jay")
    emulator.script(
        operation="ResendConfirmationCode",
        username="jay",
        errors=["InternalErrorException", "500", "drop", "TooManyRequestsException", "slow:300"],
    )
    resend = cognito.resend_confirmation_code

    internal = error_of(resend, ClientId=pool.public_client, Username="jay")
    assert internal.response["Error"]["Code"] == "InternalErrorException"
    assert internal.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    bare = error_of(resend, ClientId=pool.public_client, Username="jay")
    assert bare.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert bare.response["Error"]["Code"] == "500"

    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        resend(ClientId=pool.public_client, Username="jay")

    assert code_of(resend, ClientId=pool.public_client, Username="jay") == (
        "TooManyRequestsException"
    )

    started = time.monotonic()
    resend(ClientId=pool.public_client, Username="jay")
    assert time.monotonic() - started >= 0.3

    resend(ClientId=pool.public_client, Username="jay")
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
    from worker.emulator import EmulatorError

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
    from worker.emulator import EmulatorError

    with pytest.raises(EmulatorError, match="probability"):
        emulator.configure(faults={"drop": 2.0})
    with pytest.raises(EmulatorError, match="unknown setting"):
        emulator.configure(warp_speed=9)
