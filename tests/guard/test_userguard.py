"""The per-user guard, one body per backend, and the AccessToken user key."""

from __future__ import annotations

import hashlib
import time

import pytest
import redis

from tests.support.backends import Backend
from worker.guard import StubUserGuard, UserGuard
from worker.ratelimit import ManualClock

OP = "ResendConfirmationCode"
ALICE = "client-1|alice@example.com"
BOB = "client-1|bob@example.com"


def test_allows_the_cap_then_refuses_with_a_retry_after(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=5)
    decisions = [guard.reserve(OP, ALICE) for _ in range(5)]
    assert [(d.allowed, d.calls_in_window) for d in decisions] == [(True, n) for n in range(1, 6)]
    assert all(d.retry_after_seconds == 0.0 for d in decisions)
    refused = guard.reserve(OP, ALICE)
    assert not refused.allowed
    assert refused.calls_in_window == 5
    assert 3590 < refused.retry_after_seconds <= 3600
    assert guard.count(OP, ALICE) == 5  # a refusal is not a call


def test_calls_roll_off_after_the_window(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=2, window_seconds=0.3)
    assert guard.reserve(OP, ALICE).allowed
    time.sleep(0.1)
    assert guard.reserve(OP, ALICE).allowed
    refused = guard.reserve(OP, ALICE)
    assert not refused.allowed
    assert 0.1 < refused.retry_after_seconds <= 0.21  # until the first call rolls off
    time.sleep(refused.retry_after_seconds + 0.02)
    assert guard.count(OP, ALICE) == 1
    assert guard.reserve(OP, ALICE).allowed
    time.sleep(0.35)
    assert guard.count(OP, ALICE) == 0


def test_release_undoes_the_latest_reservation(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=5)
    for _ in range(5):
        guard.reserve(OP, ALICE)
    guard.release(OP, ALICE)
    assert guard.count(OP, ALICE) == 4
    assert guard.reserve(OP, ALICE).allowed
    guard.release(OP, BOB)  # nothing to undo: no error
    assert guard.count(OP, BOB) == 0


def test_users_and_operations_are_independent(backend: Backend) -> None:
    guard = backend.guard(cap_per_hour=1)
    assert guard.reserve(OP, ALICE).allowed
    assert not guard.reserve(OP, ALICE).allowed
    assert guard.reserve(OP, BOB).allowed
    assert guard.reserve("GetUserAttributeVerificationCode", ALICE).allowed
    assert guard.count(OP, ALICE) == 1


def test_refuses_empty_names_and_bad_limits(backend: Backend) -> None:
    guard = backend.guard()
    with pytest.raises(ValueError, match="user_key"):
        guard.reserve(OP, "")
    with pytest.raises(ValueError, match="operation"):
        guard.count("", ALICE)
    with pytest.raises(ValueError, match="cap_per_hour"):
        backend.guard(cap_per_hour=0)
    with pytest.raises(ValueError, match="window_seconds"):
        backend.guard(window_seconds=0)


def test_redis_keys_hide_the_user_and_expire(real_redis: redis.Redis) -> None:
    guard = UserGuard(real_redis, cap_per_hour=5)
    guard.reserve(OP, ALICE)
    digest = hashlib.sha256(ALICE.encode()).hexdigest()
    assert real_redis.keys("courier:guard:*") == [f"courier:guard:{OP}:{digest}".encode()]
    assert 3_590_000 < real_redis.pttl(f"courier:guard:{OP}:{digest}") <= 3_600_000
    members = real_redis.zrange(guard.key(OP, ALICE), 0, -1)
    assert not any("alice" in str(member) for member in members)
    keyed = UserGuard(real_redis, cap_per_hour=5, secret=b"pepper")
    assert keyed.key(OP, ALICE) != guard.key(OP, ALICE)


def test_a_lowered_cap_waits_for_enough_calls_to_roll_off(real_redis: redis.Redis) -> None:
    before = UserGuard(real_redis, cap_per_hour=5, window_seconds=10.0)
    for _ in range(3):
        before.reserve(OP, ALICE)
        time.sleep(0.1)
    refused = UserGuard(real_redis, cap_per_hour=2, window_seconds=10.0).reserve(OP, ALICE)
    # calls at 0, 0.1, 0.2, now 0.3: room again when the second (0.1) rolls off, at 10.1
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(9.8, abs=0.04)


def test_stub_guard_on_a_manual_clock() -> None:
    clock = ManualClock()
    guard = StubUserGuard(cap_per_hour=2, window_seconds=100.0, clock=clock)
    guard.reserve(OP, ALICE)
    clock.advance(30.0)
    guard.reserve(OP, ALICE)
    clock.advance(30.0)
    assert guard.reserve(OP, ALICE).retry_after_seconds == pytest.approx(40.0)
    clock.advance(40.0)
    assert guard.reserve(OP, ALICE).allowed
