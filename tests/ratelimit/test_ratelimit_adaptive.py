"""The adaptive rate after throttles: halve on a fresh incident, then settle below what passes.

A first throttle (or one long after the last) halves the rate and remembers the rate it
happened at as the ceiling; the rate climbs back to just under that ceiling and holds there
for ``recovery_seconds`` before probing higher. A throttle that comes while the last one is
still remembered sets the ceiling to what Cognito accepted in the last second (grants minus
throttles) and settles 5% below it instead of halving again, so a quota that dropped is
found in one or two steps instead of an AIMD saw-tooth. The floor is absolute (1/s), so a
budget far above the quota (10 x, 200 x) comes down to it too, and the climb is tied to the
ceiling found, not to the budget.
"""

from __future__ import annotations

import time

import pytest

from tests.support.backends import Backend, make_config
from tests.support.timing import run_threads
from worker.errors import PermitTimeoutError
from worker.ratelimit import Category, ManualClock, Priority, StubRateLimiter

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
    # then, recovery_seconds after the throttle, it probes at ceiling / 30 calls/s per second
    # (the ceiling: the ~25/s that passed, the observed quota), not at a budget-tied slope
    observed = state.observed_quota_per_second
    assert observed is not None
    assert 24.0 <= observed <= 26.5
    assert state.quota_below_budget
    slope = max(observed, settled) / 30.0
    assert limiter.state(URR).rate_per_second == pytest.approx(settled + slope * 2.0, rel=0.01)


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
    # accepted 0/s: the ceiling is 0, so the multiplicative decrease is the bound (from the
    # rate climbed at ceiling / recovery = 40 / 10 = 4/s per second)
    assert limiter.state(URR).rate_per_second == pytest.approx((20.0 + 4.0 * 1.5) * 0.5)


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


def _throttled_share_after(budget: float, quota_per_second: float, seconds: float) -> float:
    """Saturate a ``budget`` limiter against a ``quota_per_second`` bucket (one second
    deep) for ``seconds`` of manual clock; the throttled share after the first 10 s."""
    clock = ManualClock()
    limiter = StubRateLimiter(make_config(budget), clock=clock, sleep=clock.sleep)
    quota = _Quota(clock, quota_per_second, quota_per_second)
    _send_for(limiter, clock, quota, 10.0)
    calls, throttled = _send_for(limiter, clock, quota, seconds - 10.0)
    assert calls >= 0.9 * quota_per_second * (seconds - 10.0)  # the quota is still used
    return throttled / calls


@pytest.mark.parametrize("times", [10, 200])
def test_a_budget_far_above_the_quota_comes_down_to_it(times: int) -> None:
    # budget 10 x and 200 x the quota (50/s): the old floor, a tenth of the budget, held
    # the rate at 50/s and 1,000/s, throttling forever; now it settles under the quota and
    # probes gently (about one throttle burst per recovery period)
    share = _throttled_share_after(50.0 * times, 50.0, 130.0)
    assert share <= 0.01


def test_the_limit_shows_an_observed_quota_below_the_budget() -> None:
    clock = ManualClock()
    limiter = StubRateLimiter(make_config(2000.0), clock=clock, sleep=clock.sleep)
    assert limiter.state(URR).observed_quota_per_second is None
    assert not limiter.state(URR).quota_below_budget
    _send_for(limiter, clock, _Quota(clock, 50.0, 50.0), 5.0)
    state = limiter.state(URR)
    assert state.observed_quota_per_second is not None
    assert 40.0 <= state.observed_quota_per_second <= 55.0
    assert state.quota_below_budget
    assert state.rate_per_second < 50.0


def test_a_repeated_throttle_at_low_demand_decreases_from_what_was_sent(
    backend: Backend,
) -> None:
    # budget 2,000, demand ~20/s: halving 2,000 would change nothing; the decrease applies
    # to the ~20/s really sent, and settles under what passed (~20 - the 3 throttled)
    limiter = backend.limiter(make_config(2000.0, recovery_seconds=30.0))
    limiter.report_throttle(URR)  # 2,000 -> 1,000, the window starts
    for _ in range(22):
        limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=1.0)
        time.sleep(0.05)
    for _ in range(3):
        limiter.report_throttle(URR)
    state = backend.peer(limiter).state(URR)
    assert state.throttles == 2
    assert 8.0 <= state.rate_per_second <= 20.0
    assert state.quota_below_budget
