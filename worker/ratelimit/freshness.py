"""A permit is good for a moment only: the call must leave soon after it, or ask again.

The limiter spaces its grants one period apart, but a grant only shapes what Cognito sees
if the call leaves right after it. A thread that is descheduled between its grant and the
socket (the GIL, a busy core, a garbage collection) sends late, and its call lands next
to the calls granted after it: measured with 4 workers x 8 threads on 2 cores, about one
call in a thousand left more than 10 ms after its grant, a few over 100 ms, and that was
enough for a rolling second at the emulator to hold ``budget + 2`` calls while the grants
held ``budget + 1``.

So a call carries a send deadline: :func:`send_with_fresh_permit` takes a permit, sets the
deadline, and runs the call; the botocore ``before-send`` handler
:func:`refuse_stale_send` (registered on the gateway's client) raises
:class:`~worker.errors.StalePermitError` when the request is about to leave after the
deadline. Nothing was sent, the permit is spent unused (it only ever lowers the rate), and
a fresh one is taken. After :data:`MAX_STALE_PERMITS` stale permits in a row the call goes
anyway, so a worker on an overloaded host still makes progress.

The deadline is half a period of the configured budget: with the GCRA tolerance of a
quarter period that leaves a quarter period for the network (at 50 calls/s, 10 ms and
5 ms). Above 100 calls/s (half a period under :data:`MIN_FRESH_SECONDS`) there is no
deadline: a late call then moves less than 1% of a second's calls, and ordinary scheduling
noise would void permits for nothing. The deadline is never shorter than half the period
the permit was granted at (the backends report it): after ``courier limit set 0.05``, or
an adaptive rate far below the budget, a permit is one of a call every 20 s, and voiding
it for a call 13 ms late cost the job its next permit 20 s away (measured: the job failed
``CourierPermitTimeout`` with 0 attempts, tests/jobs/test_budget_change_jobs.py).

The clock starts when the granting attempt was sent to the limiter
(:func:`note_granting_attempt`, called by both backends), so a thread slow to wake up on
the Redis reply is covered too: measured, that stall reached 110 ms.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from worker.errors import StalePermitError
from worker.ratelimit.base import Category, Priority, RateLimiter
from worker.ratelimit.shares import CampaignShare

__all__ = [
    "MAX_STALE_PERMITS",
    "MIN_FRESH_SECONDS",
    "fresh_seconds",
    "note_granting_attempt",
    "refuse_stale_send",
    "send_with_fresh_permit",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_FRESH_SECONDS = 0.005
"""The shortest send deadline; a shorter one (a faster budget) means no deadline at all."""

MAX_STALE_PERMITS = 5
"""Stale permits in a row after which the call is sent late rather than not at all."""

_deadline = threading.local()  # .at: this thread's send deadline (monotonic) or None
_granting = threading.local()  # .started, .period: this thread's last granted attempt


def note_granting_attempt(started: float, period_seconds: float | None = None) -> None:
    """Record (a backend, on a grant) when the attempt that won the permit was sent.

    ``started`` is :func:`time.monotonic` taken just before the attempt went to the
    limiter: the permit cannot be older than that. ``period_seconds`` is 1 / the rate the
    permit was granted at (None: not known).
    """
    _granting.started = started
    _granting.period = period_seconds


def _deadline_seconds(fresh_for_seconds: float | None) -> float | None:
    """The larger of ``fresh_for_seconds`` and half the last grant's period (None: none)."""
    period: float | None = getattr(_granting, "period", None)
    granted = fresh_seconds(1 / period) if period else None
    bounds = [s for s in (fresh_for_seconds, granted) if s is not None]
    return max(bounds) if bounds else None


def fresh_seconds(budget_per_second: float) -> float | None:
    """How long after its permit a call may still leave: half a period; None above 100/s."""
    half_period = 0.5 / budget_per_second
    return half_period if half_period >= MIN_FRESH_SECONDS else None


def refuse_stale_send(**_: object) -> None:
    """botocore ``before-send`` handler: refuse a request that leaves after its deadline.

    Requests sent outside :func:`send_with_fresh_permit` (no deadline set on this thread)
    pass untouched.

    Raises:
        StalePermitError: the deadline set for this thread has passed.
    """
    deadline: float | None = getattr(_deadline, "at", None)
    now = time.monotonic()
    if deadline is not None and now > deadline:
        late_ms = (now - deadline) * 1000
        raise StalePermitError(f"the permit went stale {late_ms:.1f} ms before the call left")


def send_with_fresh_permit(
    limiter: RateLimiter,
    category: Category,
    send: Callable[[], T],
    *,
    priority: Priority,
    timeout_seconds: float,
    fresh_for_seconds: float | None,
    campaign: CampaignShare | None = None,
) -> T:
    """Take a permit and run ``send`` while it is fresh; a stale one is replaced.

    ``send`` must make exactly one request through a client that has
    :func:`refuse_stale_send` registered for ``before-send``. The deadline is
    ``fresh_for_seconds`` (see :func:`fresh_seconds`) or half the period the permit was
    granted at, whichever is longer; with neither (both None) it is one permit and one
    send, with no deadline.
    ``campaign`` paces bulk permits at that campaign's share (:class:`CampaignShare`).

    Raises:
        PermitTimeoutError: no permit within ``timeout_seconds`` (per permit taken).
        Exception: whatever ``send`` raises, except a stale refusal that is retried.
    """
    for _ in range(MAX_STALE_PERMITS):
        _granting.started = _granting.period = None
        limiter.acquire(
            category, priority=priority, timeout_seconds=timeout_seconds, campaign=campaign
        )
        started = getattr(_granting, "started", None) or time.monotonic()
        fresh_for = _deadline_seconds(fresh_for_seconds)
        if fresh_for is None:
            return send()
        _deadline.at = started + fresh_for
        try:
            return send()
        except StalePermitError as exc:
            log.debug("%s; taking a fresh permit", exc)
        finally:
            _deadline.at = None
    limiter.acquire(category, priority=priority, timeout_seconds=timeout_seconds, campaign=campaign)
    return send()  # late rather than never
