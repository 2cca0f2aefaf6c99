"""The chunk task's batches: one guard round trip per batch, the batch size, and
``deliver`` with a decision reserved ahead (first attempt) and asked again (retries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from tasks.campaigns import campaign_status, start_campaign
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.sender import FAST_ROW_SECONDS, FIRST_CLAIM_ROWS, _next_claim_size
from worker.contrib.emulator import EmulatorHandle
from worker.delivery import USER_CAP_CODE, ResendRequest, deliver
from worker.guard import GuardDecision, UserGuard
from worker.ratelimit import Priority
from worker.runtime import Runtime

OP = "ResendConfirmationCode"


class CountingGuard(UserGuard):
    """A Redis guard that remembers how it was asked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []
        self.singles = 0

    def reserve_many(self, operation: str, user_keys: Sequence[str]) -> list[GuardDecision]:
        self.batches.append(len(user_keys))
        return super().reserve_many(operation, user_keys)

    def reserve(self, operation: str, user_key: str) -> GuardDecision:
        self.singles += 1
        return super().reserve(operation, user_key)


def test_claim_size_doubles_for_fast_rows_and_halves_for_paced_ones() -> None:
    fast, slow = FAST_ROW_SECONDS / 2, FAST_ROW_SECONDS * 2
    assert FIRST_CLAIM_ROWS == 4
    assert [_next_claim_size(n, fast, 16) for n in (4, 8, 16)] == [8, 16, 16]
    assert [_next_claim_size(n, slow, 16) for n in (16, 8, 4)] == [8, 4, 4]
    assert _next_claim_size(2, slow, 2) == 2  # never above the campaign's claim_rows
    assert _next_claim_size(2, fast, 2) == 2


def test_a_campaign_reserves_the_guard_once_per_batch(
    celery_worker: Any, runtime: Runtime, emulator: EmulatorHandle
) -> None:
    guard = CountingGuard(runtime.redis, cap_per_hour=5)
    runtime.guard = guard
    data = "".join(f"{name}\n" for name in usernames(1, 300)).encode()
    doc = start_campaign(CLIENT_ID, data=data, file_format="text", window=1)
    final = wait_for(campaign_status, doc["id"], timeout=30)
    assert final["counts"]["succeeded"] == 300
    assert guard.singles == 0  # no row asked the guard on its own
    assert sum(guard.batches) == 300
    assert guard.batches[0] == FIRST_CLAIM_ROWS
    assert max(guard.batches) <= 16
    assert len(guard.batches) < 300 / FIRST_CLAIM_ROWS  # batches grew: zero-latency rows
    assert len(emulator.deliveries()) == 300


def test_deliver_takes_a_reserved_decision_for_its_first_attempt(
    runtime: Runtime, emulator: EmulatorHandle
) -> None:
    request = ResendRequest(CLIENT_ID, "user0000001")
    (decision,) = runtime.guard.reserve_many(OP, [request.user_key(runtime.clients)])
    outcome = deliver(runtime, request, priority=Priority.BULK, reserved=decision)
    assert outcome.state == "succeeded"
    # not asked a second time
    assert runtime.guard.count(OP, request.user_key(runtime.clients)) == 1
    assert len(emulator.deliveries()) == 1


def test_deliver_with_a_refused_decision_sends_nothing(
    runtime: Runtime, emulator: EmulatorHandle
) -> None:
    request = ResendRequest(CLIENT_ID, "user0000002")
    refused = GuardDecision(allowed=False, retry_after_seconds=42.0, calls_in_window=5)
    outcome = deliver(runtime, request, priority=Priority.BULK, reserved=refused)
    assert (outcome.state, outcome.attempts, outcome.error_code) == ("skipped", 0, USER_CAP_CODE)
    assert outcome.retry_after_seconds == pytest.approx(42.0)
    assert emulator.deliveries() == []


def test_a_retry_after_a_reserved_first_attempt_asks_the_guard_again(
    runtime: Runtime, emulator: EmulatorHandle
) -> None:
    guard = CountingGuard(runtime.redis, cap_per_hour=5)
    runtime.guard = guard
    request = ResendRequest(CLIENT_ID, "user0000003")
    (decision,) = guard.reserve_many(OP, [request.user_key(runtime.clients)])
    emulator.script(operation=OP, errors=["TooManyRequestsException"], username="user0000003")
    outcome = deliver(runtime, request, priority=Priority.BULK, reserved=decision)
    assert (outcome.state, outcome.attempts) == ("succeeded", 2)
    assert guard.singles == 1  # the throttled call gave its slot back; the retry took one
    assert guard.count(OP, request.user_key(runtime.clients)) == 1
