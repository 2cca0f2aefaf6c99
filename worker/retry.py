"""The one retry policy: exponential backoff with full jitter, bounded, for what can clear.

Only :class:`~worker.errors.TransientError` (throttling, 5xx, timeouts, dropped
connections) and :class:`~worker.errors.PermitTimeoutError` are retried; permanent errors,
the per-user hourly cap included, are not (invariant 5). Callers take a permit from the
global limiter inside each attempt, so every retry counts against the budget.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from worker.errors import PermitTimeoutError, TransientError
from worker.settings import Settings

__all__ = ["retrying"]


def retrying(
    settings: Settings,
    *,
    before_sleep: Callable[[RetryCallState], None] | None = None,
    stop: Callable[[RetryCallState], bool] | None = None,
    retry_on: tuple[type[BaseException], ...] = (TransientError, PermitTimeoutError),
) -> Retrying:
    """A tenacity ``Retrying`` bounded by COURIER_RETRY_MAX_ATTEMPTS and _MAX_SECONDS.

    The wait before retry n is uniform in [0, min(cap, base * 2**n)] seconds (full
    jitter), with base COURIER_RETRY_BASE_SECONDS and cap COURIER_RETRY_CAP_SECONDS. The
    last failure is re-raised as it was. ``stop`` replaces the bounds for a caller that
    counts them itself (:mod:`worker.delivery`, whose count outlives one ``Retrying``:
    a delivery resumed after a Redis outage goes on with the budget it had left).
    ``retry_on``: the errors worth another try (by default what can clear: transient
    Cognito faults and permit timeouts; a worker verifying a token also retries
    :class:`~worker.errors.TokenKeysUnavailableError`).
    """
    return Retrying(
        stop=stop
        or (
            stop_after_attempt(settings.retry_max_attempts)
            | stop_after_delay(settings.retry_max_seconds)
        ),
        wait=wait_random_exponential(
            multiplier=settings.retry_base_seconds, max=settings.retry_cap_seconds
        ),
        retry=retry_if_exception_type(retry_on),
        before_sleep=before_sleep,
        reraise=True,
    )
