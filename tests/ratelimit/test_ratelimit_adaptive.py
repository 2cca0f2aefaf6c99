"""The adaptive rate after throttles: halve on a fresh incident, then settle below what passes.

A first throttle (or one long after the last) halves the rate and remembers the rate it
happened at as the ceiling; the rate climbs back to just under that ceiling and holds there
for ``recovery_seconds`` before probing higher. A throttle that comes while the last one is
still remembered sets the ceiling to what Cognito accepted in the last second (grants minus
throttles) and settles 5% below it instead of halving again, so a quota that dropped is
found in one or two steps instead of an AIMD saw-tooth.
"""

from __future__ import annotations

import time

import pytest

from worker.errors import PermitTimeoutError
from worker.ratelimit import Category, ManualClock, Priority, StubRateLimiter

from .conftest import Backend, make_config
from .helpers import run_threads

URR = Category.USER_RESOURCE_READ


def _take_for(limiter: StubRateLimiter, clock: ManualClock, seconds: float) -> int:
    """Take every permit the limiter gives for ``seconds`` of manual clock; return the count."""
    end = clock() + seconds
    taken = 0
    while clock() < end:
        limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=5.0)
        taken += 1
    return taken


class _Quota:
    """Cognito's side: a token bucket of ``per_second`` tokens, ``capacity`` deep."""

    def __init__(self, clock: ManualClock, per_second: float, capacity: float) -> None:
        self._clock, self._rate, self._capacity = clock, per_second, capacity
        self._tokens, self._stamp = capacity, clock()

    def passes(self) -> bool:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def _send_for(
    limiter: StubRateLimiter, clock: ManualClock, quota: _Quota, seconds: float
) -> tuple[int, int]:
    """Saturate the limiter against ``quota`` for ``seconds``; returns (calls, throttled)."""
    end = clock() + seconds
    calls = throttled = 0
    while clock() < end:
        limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=5.0)
        calls += 1
        if not quota.passes():
            throttled += 1
            limiter.report_throttle(URR)
    return calls, throttled


def test_a_quota_that_halves_is_found_in_two_steps_and_held() -> None:
    clock = ManualClock()
    limiter = StubRateLimiter(
        make_config(50.0, recovery_seconds=30.0), clock=clock, sleep=clock.sleep
    )
    quota = _Quota(clock, 25.0, 25.0)  # was 50/s, now 25/s: the limiter sends 50/s
    _send_for(limiter, clock, quota, 1.5)
    assert limiter.state(URR).throttles == 1  # a fresh incident: 50 -> 25, ceiling 50
    _send_for(limiter, clock, quota, 1.5)
    state = limiter.state(URR)
    # climbing back past 25/s was throttled again within the memory: the ceiling is what
    # passed in the last second (~25/s) and the rate settles 5% under it, not halved to ~13
    assert state.throttles == 2
    assert 22.5 <= state.rate_per_second <= 24.5
    settled = state.rate_per_second
    calls, throttled = _send_for(limiter, clock, quota, 25.0)  # held for recovery_seconds
    assert throttled == 0
    assert calls == pytest.approx(25.0 * settled, abs=2)
    assert limiter.state(URR).rate_per_second == pytest.approx(settled)
    assert state.last_throttle_at is not None
    clock.advance(state.last_throttle_at + 32.0 - clock())
    # then, recovery_seconds after the throttle, it probes at (50 - 5) / 30 = 1.5/s per second
    assert limiter.state(URR).rate_per_second == pytest.approx(settled + 1.5 * 2.0)


def test_a_throttle_after_the_memory_is_a_fresh_incident_and_halves() -> None:
    clock = ManualClock()
    limiter = StubRateLimiter(
        make_config(40.0, recovery_seconds=10.0), clock=clock, sleep=clock.sleep
    )
    limiter.report_throttle(URR)
    clock.advance(41.0)  # past 4 x recovery_seconds: back at the budget, incident forgotten
    _take_for(limiter, clock, 2.0)
    assert limiter.state(URR).rate_per_second == pytest.approx(40.0)
    limiter.report_throttle(URR)
    assert limiter.state(URR).rate_per_second == pytest.approx(20.0)


def test_the_ceiling_never_raises_the_rate_on_a_throttle() -> None:
    clock = ManualClock()
    limiter = StubRateLimiter(
        make_config(40.0, recovery_seconds=10.0), clock=clock, sleep=clock.sleep
    )
    limiter.report_throttle(URR)  # 40 -> 20
    clock.advance(1.5)  # nothing granted meanwhile: nothing was seen to pass
    limiter.report_throttle(URR)
    # accepted 0/s: the ceiling is 0, so the multiplicative decrease is the bound
    assert limiter.state(URR).rate_per_second == pytest.approx((20.0 + 3.6 * 1.5) * 0.5)


def test_a_repeated_throttle_settles_under_the_accepted_rate(backend: Backend) -> None:
    # budget 20, recovery 10 s: the first throttle halves to 10; after ~1.1 s of saturating
    # traffic (~11 permits) a second one finds ~9-11 accepted in the last second and settles
    # 5% under that, well above the 5/s a second halving would give
    limiter = backend.limiter(make_config(20.0, recovery_seconds=10.0))
    limiter.report_throttle(URR)

    def saturate(deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            try:
                limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=left)
            except PermitTimeoutError:
                return

    run_threads(4, 1.15, saturate)
    limiter.report_throttle(URR)
    state = backend.peer(limiter).state(URR)
    assert state.throttles == 2
    assert 7.5 <= state.rate_per_second <= 11.5
