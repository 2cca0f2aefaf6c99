"""``reserve_many``: the per-user guard for a batch of calls in one step, on every backend."""

from __future__ import annotations

import pytest

from tests.support.backends import Backend

OP = "ResendConfirmationCode"
ALICE = "client-1|alice@example.com"
BOB = "client-1|bob@example.com"


def test_reserve_many_answers_as_reserving_one_by_one(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=2)
    decisions = guard.reserve_many(OP, [ALICE, BOB, ALICE, ALICE])
    assert [(d.allowed, d.calls_in_window) for d in decisions] == [
        (True, 1),
        (True, 1),
        (True, 2),
        (False, 2),  # the third call of the batch for Alice sees the first two
    ]
    assert decisions[0].retry_after_seconds == 0.0
    assert 3590 < decisions[3].retry_after_seconds <= 3600
    assert guard.count(OP, ALICE) == 2
    assert guard.count(OP, BOB) == 1
    assert not guard.reserve(OP, ALICE).allowed  # the batch counted like single calls


def test_reserve_many_entries_release_one_at_a_time(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=5)
    guard.reserve_many(OP, [ALICE, ALICE, BOB])
    guard.release(OP, ALICE)
    assert guard.count(OP, ALICE) == 1
    assert guard.count(OP, BOB) == 1


def test_reserve_many_of_nothing_and_of_bad_names(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=2)
    assert guard.reserve_many(OP, []) == []
    with pytest.raises(ValueError, match="user_key"):
        guard.reserve_many(OP, [ALICE, ""])
    with pytest.raises(ValueError, match="operation"):
        guard.reserve_many("", [ALICE])
    assert guard.count(OP, ALICE) == 0  # a refused batch reserves nothing
