"""A permit goes stale: a call that would leave too long after it takes a fresh one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.support.backends import Backend, make_config
from tests.support.runtime import with_one_limiter
from worker.cognito import CognitoGateway, make_client
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool
from worker.delivery import ResendRequest, deliver
from worker.errors import PermitTimeoutError
from worker.ratelimit import (
    MAX_STALE_PERMITS,
    Category,
    Grant,
    Priority,
    StubRateLimiter,
    fresh_seconds,
    refuse_stale_send,
    send_with_fresh_permit,
)
from worker.runtime import Runtime

URR = Category.USER_RESOURCE_READ


def _limiter(grants: list[Grant], budget: float = 1000.0) -> StubRateLimiter:
    return StubRateLimiter(make_config(budget), on_grant=grants.append)


def _send(limiter: StubRateLimiter, send: Any, fresh_for_seconds: float | None = 0.01) -> Any:
    return send_with_fresh_permit(
        limiter,
        URR,
        send,
        priority=Priority.BULK,
        timeout_seconds=5.0,
        fresh_for_seconds=fresh_for_seconds,
    )


def _always_20_ms_late() -> str:
    time.sleep(0.02)
    refuse_stale_send()
    return "sent"


def test_deadline_is_half_a_period_up_to_100_per_second() -> None:
    assert fresh_seconds(50.0) == pytest.approx(0.01)
    assert fresh_seconds(20.0) == pytest.approx(0.025)
    assert fresh_seconds(100.0) == pytest.approx(0.005)
    assert fresh_seconds(101.0) is None
    assert fresh_seconds(1_000_000.0) is None


def test_without_a_deadline_a_late_call_still_uses_one_permit() -> None:
    grants: list[Grant] = []
    answer = _send(_limiter(grants), _always_20_ms_late, fresh_for_seconds=None)
    assert (answer, len(grants)) == ("sent", 1)


def test_a_prompt_call_uses_its_one_permit() -> None:
    grants: list[Grant] = []

    def send() -> str:
        refuse_stale_send()
        return "sent"

    assert _send(_limiter(grants), send) == "sent"
    assert len(grants) == 1


def test_a_late_call_is_refused_before_it_leaves_and_takes_a_fresh_permit() -> None:
    grants: list[Grant] = []
    left: list[int] = []

    def send() -> str:
        if len(grants) == 1:
            time.sleep(0.03)  # descheduled between the permit and the socket
        refuse_stale_send()
        left.append(len(grants))
        return "sent"

    assert _send(_limiter(grants), send) == "sent"
    assert len(grants) == 2
    assert left == [2]  # only the call on the fresh permit left


def test_the_deadline_runs_from_the_granting_attempt_not_from_acquire_returning() -> None:
    grants: list[Grant] = []

    def slow_to_return(grant: Grant) -> None:  # runs between the grant and acquire returning
        grants.append(grant)
        if len(grants) == 1:
            time.sleep(0.03)

    def send() -> str:
        refuse_stale_send()
        return "sent"

    limiter = StubRateLimiter(make_config(1000.0), on_grant=slow_to_return)
    assert _send(limiter, send) == "sent"
    assert len(grants) == 2


def test_after_repeated_stale_permits_the_call_goes_anyway() -> None:
    grants: list[Grant] = []
    assert _send(_limiter(grants), _always_20_ms_late) == "sent"
    assert len(grants) == MAX_STALE_PERMITS + 1


def test_no_deadline_outside_a_permit_and_none_left_behind() -> None:
    refuse_stale_send()  # nothing set on this thread: passes
    grants: list[Grant] = []
    with pytest.raises(ValueError, match="boom"):
        _send(_limiter(grants), lambda: (_ for _ in ()).throw(ValueError("boom")))
    time.sleep(0.02)
    refuse_stale_send()  # the failed send cleared its deadline


def test_permit_timeouts_pass_through() -> None:
    limiter = _limiter([], budget=0.5)
    limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=0)
    with pytest.raises(PermitTimeoutError):
        send_with_fresh_permit(
            limiter,
            URR,
            lambda: "never",
            priority=Priority.BULK,
            timeout_seconds=0.1,
            fresh_for_seconds=0.01,
        )


def test_a_stale_boto3_request_never_reaches_cognito(
    emulator: EmulatorHandle, pool: UserPool
) -> None:
    """A real boto3 client over HTTP: the stale request is refused before it is written."""
    username = pool.add_user("stale-permit-user")
    client = emulator.client()
    stalls = iter([0.03])
    requests: list[float] = []

    def stall(**_: object) -> None:  # runs just before the freshness check
        requests.append(time.monotonic())
        time.sleep(next(stalls, 0.0))

    client.meta.events.register("before-send", stall)
    client.meta.events.register("before-send", refuse_stale_send)
    grants: list[Grant] = []
    answer = _send(
        _limiter(grants),
        lambda: client.resend_confirmation_code(ClientId=pool.client_id, Username=username),
    )
    assert answer["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    assert (len(grants), len(requests)) == (2, 2)  # the first, stale, was built but not sent
    resent = [
        d
        for d in emulator.deliveries()
        if d["username"] == username and d["operation"] == "ResendConfirmationCode"
    ]
    assert len(resent) == 1


def test_deliver_replaces_a_stale_permit_and_counts_one_attempt(
    runtime: Runtime, pool: UserPool, emulator: EmulatorHandle
) -> None:
    """The production path: make_client's before-send check, deliver(), the emulator."""
    username = pool.add_user("stale-deliver-user")
    client = make_client(runtime.settings)
    stalls = iter([0.05])  # the first request is built, then its thread stalls 50 ms

    def stall(**_: object) -> None:
        time.sleep(next(stalls, 0.0))

    client.meta.events.register_first("before-send", stall)
    grants: list[Grant] = []
    limiter = StubRateLimiter(make_config(runtime.settings.rate_limit), on_grant=grants.append)
    stalled = with_one_limiter(runtime, limiter, gateway=CognitoGateway(runtime.settings, client))
    outcome = deliver(
        stalled, ResendRequest(pool.client_id, username), priority=Priority.INTERACTIVE
    )
    assert (outcome.state, outcome.attempts, len(grants)) == ("succeeded", 1, 2)
    resent = [
        d
        for d in emulator.deliveries()
        if d["username"] == username and d["operation"] == "ResendConfirmationCode"
    ]
    assert len(resent) == 1


def test_a_permit_of_a_slow_run_time_budget_stays_fresh_for_half_its_period(
    backend: Backend,
) -> None:
    """``courier limit set 0.05`` on a fleet configured for 40/s: a permit is one of a
    call every 20 s, and a call leaving 30 ms after it (past half the *configured*
    period, 12.5 ms) must still go on it. Voiding it once left the job waiting for the
    next permit 20 s away, and failing ``CourierPermitTimeout`` with 0 attempts."""
    grants: list[Grant] = []
    limiter = backend.limiter(make_config(40.0), on_grant=grants.append)
    limiter.set_budget(URR, 0.05)

    def send() -> str:
        time.sleep(0.03)
        refuse_stale_send()
        return "sent"

    assert _send(limiter, send, fresh_for_seconds=fresh_seconds(40.0)) == "sent"
    assert len(grants) == 1  # the permit it was granted, not a second one


def test_a_fast_run_time_budget_keeps_the_configured_deadline(backend: Backend) -> None:
    """Above the configured budget the deadline stays the configured half period: a call
    later than it still takes a fresh permit."""
    grants: list[Grant] = []
    limiter = backend.limiter(make_config(40.0), on_grant=grants.append)
    limiter.set_budget(URR, 90.0)
    left: list[int] = []

    def send() -> str:
        if len(grants) == 1:
            time.sleep(0.03)
        refuse_stale_send()
        left.append(len(grants))
        return "sent"

    assert _send(limiter, send, fresh_for_seconds=fresh_seconds(40.0)) == "sent"
    assert left == [2]
