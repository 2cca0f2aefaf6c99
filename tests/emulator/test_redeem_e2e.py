"""A code a real worker delivered through a real campaign confirms its user.

Real processes only: a private redis-server, ``courier emulator`` and ``courier worker``;
the campaign starts with ``courier campaign start``; the test reads the delivered code
from the emulator's deliveries endpoint and confirms through boto3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support.campaigns import user_file
from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, start_campaign
from tests.support.stack import stack_env
from tests.support.synthetic import CLIENT_ID, POOL_ID, usernames
from worker.contrib.redisserver import PrivateRedis


@pytest.fixture
def private_redis() -> Iterator[str]:
    with PrivateRedis() as server:
        yield server.url


def test_code_delivered_by_campaign_confirms_user(private_redis: str, tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "emulator.log", ["--users", "50"]).start()
    worker: WorkerProcess | None = None
    try:
        env = stack_env(private_redis, emulator.endpoint_url)
        worker = WorkerProcess("redeem", env, tmp_path).start()
        names = usernames(1, 3)
        start_campaign(env, user_file(tmp_path, names), CLIENT_ID)
        rows = wait_until(
            lambda: found if len(found := emulator.handle.deliveries(names[0])) >= 1 else None,
            timeout_seconds=60,
            what="the campaign's delivery to the first user",
        )
        assert rows[-1]["operation"] == "ResendConfirmationCode"
        code = rows[-1]["code"]
        cognito = emulator.handle.client()
        before = cognito.admin_get_user(UserPoolId=POOL_ID, Username=names[0])
        assert before["UserStatus"] == "UNCONFIRMED"
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        with pytest.raises(ClientError) as mismatch:
            cognito.confirm_sign_up(ClientId=CLIENT_ID, Username=names[0], ConfirmationCode=wrong)
        assert mismatch.value.response["Error"]["Code"] == "CodeMismatchException"
        cognito.confirm_sign_up(ClientId=CLIENT_ID, Username=names[0], ConfirmationCode=code)
        after = cognito.admin_get_user(UserPoolId=POOL_ID, Username=names[0])
        assert after["UserStatus"] == "CONFIRMED"
        attributes = {a["Name"]: a["Value"] for a in after["UserAttributes"]}
        assert attributes.get("email_verified") == "true"
    finally:
        if worker is not None:
            worker.stop()
        emulator.stop()


def test_print_codes_prints_the_delivered_code(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    emulator = EmulatorProcess(log, ["--users", "5", "--print-codes"]).start()
    try:
        name = usernames(2, 1)[0]
        emulator.handle.client().resend_confirmation_code(ClientId=CLIENT_ID, Username=name)
        code = emulator.handle.deliveries(name)[-1]["code"]
        expected = f"code {code} for {name} in {POOL_ID} (ResendConfirmationCode, EMAIL to "
        wait_until(
            lambda: expected in log.read_text(encoding="utf-8") or None,
            timeout_seconds=10,
            what="the printed code",
        )
    finally:
        emulator.stop()
