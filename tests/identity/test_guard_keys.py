"""The guard counts what Cognito counts: pool-wide, case-folded.

Real Redis, a real Celery worker, boto3 over HTTP to the emulator, whose pools fold case
(UsernameConfiguration.CaseSensitive false) and cap each pool user at 5 calls an hour.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks import submit_resend, wait
from tests.support.pools import Pools
from worker.contrib.emulator import EmulatorHandle
from worker.delivery import USER_CAP_CODE
from worker.identity.clients import ClientInfo
from worker.identity.users import resend_user_key
from worker.runtime import Runtime

OP = "ResendConfirmationCode"


def _resends(emulator: EmulatorHandle, username: str) -> int:
    return sum(
        1
        for d in emulator.deliveries()
        if d["operation"] == OP and d.get("username", "").lower() == username.lower()
    )


def _run(client_id: str, username: str) -> dict[str, Any]:
    return wait(submit_resend(client_id, username), timeout_seconds=30)


def test_keys_name_the_pool_and_the_folded_username() -> None:
    pooled = ClientInfo("web", "us-east-1_AbC")
    assert resend_user_key(pooled, "Alice") == "pool:us-east-1_AbC|alice"
    assert resend_user_key(ClientInfo("mobile", "us-east-1_AbC"), "ALICE") == (
        "pool:us-east-1_AbC|alice"
    )
    assert resend_user_key(ClientInfo("web"), "Alice") == "client:web|alice"
    exact = ClientInfo("web", "us-east-1_AbC", case_sensitive=True)
    assert resend_user_key(exact, "Alice") == "pool:us-east-1_AbC|Alice"
    assert resend_user_key(pooled, "STRASSE") == resend_user_key(pooled, "straße")


@pytest.mark.usefixtures("celery_worker")
def test_alice_five_times_then_ALICE_is_skipped(
    runtime: Runtime, pools: Pools, emulator: EmulatorHandle
) -> None:
    alice = pools.add_user(pools.web, "alice")
    for _ in range(5):
        assert _run(pools.web, alice)["state"] == "succeeded"
    sixth = _run(pools.web, "ALICE")
    assert sixth["state"] == "skipped"
    assert sixth["error"]["code"] == USER_CAP_CODE
    assert sixth["attempts"] == 0
    assert _resends(emulator, "alice") == 5  # the sixth never reached Cognito


@pytest.mark.usefixtures("celery_worker")
def test_one_user_through_two_clients_of_one_pool_shares_a_count(
    runtime: Runtime, pools: Pools, emulator: EmulatorHandle
) -> None:
    bob = pools.add_user(pools.web, "bob")
    for client_id, name in [(pools.web, "bob"), (pools.mobile, "Bob")] * 2 + [(pools.web, bob)]:
        assert _run(client_id, name)["state"] == "succeeded"
    sixth = _run(pools.mobile, "BOB")
    assert (sixth["state"], sixth["error"]["code"]) == ("skipped", USER_CAP_CODE)
    assert _resends(emulator, "bob") == 5


@pytest.mark.usefixtures("celery_worker")
def test_a_pool_declared_case_sensitive_counts_each_spelling(
    runtime: Runtime, pools: Pools, emulator: EmulatorHandle
) -> None:
    for name in ("carol", "Carol"):
        pools.add_user(pools.exact, name)  # two users in a case-sensitive pool
    for _ in range(5):
        assert _run(pools.exact, "carol")["state"] == "succeeded"
    assert _run(pools.exact, "Carol")["state"] == "succeeded"  # another user
    assert _run(pools.exact, "carol")["error"]["code"] == USER_CAP_CODE
