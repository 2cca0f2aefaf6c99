"""The account quota per category: a token bucket, TooManyRequestsException above it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.cognito import code_of, error_of
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle
from worker.contrib.emulator.pools import UserPool


@pytest.mark.parametrize(
    "emulator_config",
    [EmulatorConfig(synthetic_users=100, user_resource_read_per_second=2.0, burst=5.0)],
    ids=["rate2-burst5"],
)
def test_throttles_above_the_bucket(cognito: Any, emulator: EmulatorHandle) -> None:
    outcomes = []
    error: Any = None
    for i in range(1, 11):
        try:
            cognito.resend_confirmation_code(
                ClientId="synthetic0client0000000001", Username=f"user{i:07d}"
            )
            outcomes.append("ok")
        except cognito.exceptions.TooManyRequestsException as exc:
            error = exc.response
            outcomes.append("throttled")
    assert outcomes[:5] == ["ok"] * 5
    assert error["Error"]["Message"] == "Too many requests"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert outcomes.count("ok") <= 6  # the burst plus at most one refilled token
    stats = emulator.stats()
    assert stats["operations"]["ResendConfirmationCode"]["throttled"] == outcomes.count("throttled")
    assert sum(stats["throttled_per_second"].values()) == outcomes.count("throttled")
    assert sum(r.get("ResendConfirmationCode", 0) for r in stats["per_second"].values()) == (
        outcomes.count("ok")
    )


def test_quota_set_at_run_time_and_throttles_not_counted_against_the_cap(
    cognito: Any, emulator: EmulatorHandle, pool: UserPool, sign_up: Callable[..., str]
) -> None:
    sign_up("ivy")
    emulator.configure(user_resource_read_per_second=1.0, burst=1.0)
    assert emulator.config()["user_resource_read_per_second"] == 1.0
    throttled = 0
    sent = 0
    while sent < 5:
        try:
            cognito.resend_confirmation_code(ClientId=pool.client_id, Username="ivy")
            sent += 1
        except cognito.exceptions.TooManyRequestsException:
            throttled += 1
            emulator.configure(user_resource_read_per_second=1000.0)  # refill quickly
            emulator.configure(user_resource_read_per_second=1.0, burst=1.0)
    assert throttled >= 1
    # five accepted calls reached the cap; the throttled ones did not count
    emulator.configure(user_resource_read_per_second=None)
    assert (
        code_of(cognito.resend_confirmation_code, ClientId=pool.client_id, Username="ivy")
        == "LimitExceededException"
    )


@pytest.mark.parametrize(
    "emulator_config",
    [EmulatorConfig(synthetic_users=100, user_list_per_second=1.0)],
    ids=["list-rate1"],
)
def test_list_users_has_its_own_category(cognito: Any) -> None:
    cognito.list_users(UserPoolId="us-east-1_Synthetic1", Limit=1)
    assert code_of(cognito.list_users, UserPoolId="us-east-1_Synthetic1", Limit=1) == (
        "TooManyRequestsException"
    )
    # UserResourceRead is untouched by the ListUsers bucket
    cognito.resend_confirmation_code(ClientId="synthetic0client0000000001", Username="user0000001")


def test_token_bucket_refills_at_its_rate() -> None:
    from worker.contrib.emulator.limits import TokenBucket

    now = [0.0]
    bucket = TokenBucket(0.5, clock=lambda: now[0])
    assert bucket.try_acquire()  # never less than one token of capacity
    assert not bucket.try_acquire()
    now[0] += 1.0
    assert not bucket.try_acquire()
    now[0] += 1.0
    assert bucket.try_acquire()
    assert TokenBucket(None).try_acquire()


def test_daily_email_limit_of_the_default_sender(cognito: Any, emulator: EmulatorHandle) -> None:
    emulator.configure(daily_email_limit=3)
    public = "synthetic0client0000000001"
    for i in range(1, 4):
        cognito.resend_confirmation_code(ClientId=public, Username=f"user{i:07d}")
    error = error_of(cognito.resend_confirmation_code, ClientId=public, Username="user0000004")
    assert error.response["Error"] == {
        "Code": "LimitExceededException",
        "Message": "Exceeded daily email limit for the operation or the account. If a higher "
        "limit is required, please configure your user pool to use your own Amazon SES "
        "configuration for sending email.",
    }
    assert len(emulator.deliveries()) == 3
    # the refused call did not spend the user's hourly cap: 5 codes once the day allows
    emulator.configure(daily_email_limit=0)
    for _ in range(5):
        cognito.resend_confirmation_code(ClientId=public, Username="user0000004")
    assert code_of(cognito.resend_confirmation_code, ClientId=public, Username="user0000004") == (
        "LimitExceededException"
    )
    # a pool with its own SES configuration (DEVELOPER) is not limited
    emulator.configure(daily_email_limit=1)
    pool_id = cognito.create_user_pool(
        PoolName="ses",
        AutoVerifiedAttributes=["email"],
        EmailConfiguration={"EmailSendingAccount": "DEVELOPER", "SourceArn": SES_ARN},
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="c")[
        "UserPoolClient"
    ]["ClientId"]
    for name in ("ann", "ben", "cy"):
        cognito.sign_up(
            ClientId=client_id,
            Username=name,
            Password="Corr3ct-Horse!",
            UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}],
        )
    emulator.reset()  # also forgets the day's count
    cognito.resend_confirmation_code(ClientId=public, Username="user0000005")


SES_ARN = "arn:aws:ses:us-east-1:000000000000:identity/example.com"
