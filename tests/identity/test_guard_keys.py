"""The guard counts what Cognito counts: pool-wide, case-folded, old keys still counting.

Real Redis, a real Celery worker, boto3 over HTTP to the emulator, whose pools fold case
(UsernameConfiguration.CaseSensitive false) and cap each pool user at 5 calls an hour.
"""

from __future__ import annotations

from typing import Any

import pytest

from tasks import submit_resend, wait
from tests.identity.conftest import Pools
from worker.contrib.emulator import EmulatorHandle
from worker.delivery import USER_CAP_CODE, ResendRequest
from worker.guard import StubUserGuard, UserGuard
from worker.identity.clients import ClientInfo
from worker.identity.users import legacy_resend_user_key, resend_user_key
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


@pytest.mark.usefixtures("celery_worker")
def test_old_scheme_keys_keep_counting_until_they_expire(
    runtime: Runtime, pools: Pools, emulator: EmulatorHandle
) -> None:
    dave = pools.add_user(pools.web, "dave")
    # three calls recorded by a worker of the first key scheme (per client, case as typed)
    for _ in range(3):
        assert runtime.guard.reserve(OP, legacy_resend_user_key(pools.web, dave)).allowed
    request = ResendRequest(pools.web, "DAVE")
    assert (
        runtime.guard.count(
            OP,
            request.user_key(runtime.clients),
            legacy_key=legacy_resend_user_key(pools.web, "dave"),
        )
        == 3
    )
    assert _run(pools.web, dave)["state"] == "succeeded"
    assert _run(pools.web, dave)["state"] == "succeeded"
    third = _run(pools.web, dave)
    assert (third["state"], third["error"]["code"]) == ("skipped", USER_CAP_CODE)
    assert _resends(emulator, "dave") == 2


@pytest.mark.parametrize("backend", ["redis", "stub"])
def test_legacy_calls_count_and_set_the_retry_time(backend: str, runtime: Runtime) -> None:
    now = [1000.0]
    guard: UserGuard | StubUserGuard = (
        UserGuard(runtime.redis, cap_per_hour=3, window_seconds=2.0)
        if backend == "redis"
        else StubUserGuard(cap_per_hour=3, window_seconds=2.0, clock=lambda: now[0])
    )
    assert guard.reserve(OP, "old").allowed  # legacy entry, oldest
    decision = guard.reserve(OP, "new", legacy_key="old")
    assert (decision.allowed, decision.calls_in_window) == (True, 2)
    assert guard.reserve(OP, "new", legacy_key="old").allowed
    refused = guard.reserve(OP, "new", legacy_key="old")
    assert (refused.allowed, refused.calls_in_window) == (False, 3)
    assert 0 < refused.retry_after_seconds <= 2.0
    assert guard.count(OP, "new", legacy_key="old") == 3
    assert guard.count(OP, "new") == 2  # the new call logs only under the new key
    many = guard.reserve_many(OP, ["new", "other"], legacy_keys=["old", None])
    assert [d.allowed for d in many] == [False, True]
    with pytest.raises(ValueError, match="legacy_keys has 1 entries for 2"):
        guard.reserve_many(OP, ["a", "b"], legacy_keys=["x"])
