"""One request's whole path: per-user guard, global permit, call, classify, retry.

:func:`deliver` is shared by single jobs (:mod:`tasks.jobs`) and campaign rows. Every
attempt takes a permit from the global limiter first (invariant 1), throttled and
transient failures are retried with exponential backoff and full jitter within bounded
attempts and total time (invariant 5), and the per-user guard refuses a call Cognito would
refuse for its hourly cap before it is made. It never raises for a Cognito failure: the
:class:`Outcome` says what happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from tenacity import RetryCallState

from worker.errors import (
    CognitoError,
    PermitTimeoutError,
    StalePermitError,
    ThrottledError,
    UserCapReachedError,
)
from worker.guard import GuardDecision
from worker.identity.users import resend_user_key, user_key_for_access_token
from worker.observe import worker_metrics as metrics
from worker.ratelimit import Category, Priority, fresh_seconds, send_with_fresh_permit
from worker.retry import retrying

if TYPE_CHECKING:
    from worker.identity.clients import ClientRegistry
    from worker.runtime import Runtime

__all__ = [
    "PERMIT_TIMEOUT_CODE",
    "USER_CAP_CODE",
    "Outcome",
    "ResendRequest",
    "VerifyRequest",
    "deliver",
    "region_of",
]

log = logging.getLogger(__name__)

USER_CAP_CODE = "CourierUserCapReached"
PERMIT_TIMEOUT_CODE = "CourierPermitTimeout"


@dataclass(frozen=True)
class ResendRequest:
    """A ResendConfirmationCode call, already validated."""

    client_id: str
    username: str
    secret_hash: str | None = None
    client_metadata: dict[str, str] | None = None

    operation = "ResendConfirmationCode"

    def user_key(self, clients: ClientRegistry) -> str:
        """Who the per-user cap counts: the (case-folded) username in the client's pool."""
        return resend_user_key(clients.lookup(self.client_id), self.username)

    def __repr__(self) -> str:
        return f"ResendRequest(client_id={self.client_id!r}, username={self.username!r})"


@dataclass(frozen=True)
class VerifyRequest:
    """A GetUserAttributeVerificationCode call, already validated (token in clear)."""

    access_token: str
    attribute_name: str
    client_metadata: dict[str, str] | None = None

    operation = "GetUserAttributeVerificationCode"

    def user_key(self, clients: ClientRegistry) -> str:
        """Who the per-user cap counts: the token's issuer and user, never the token."""
        return user_key_for_access_token(self.access_token)

    def __repr__(self) -> str:  # the token must never reach a log or a traceback
        return f"VerifyRequest(access_token=<sealed>, attribute_name={self.attribute_name!r})"


@dataclass(frozen=True)
class Outcome:
    """What became of one request."""

    state: Literal["succeeded", "failed", "skipped"]
    attempts: int
    delivery: dict[str, str] | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None

    @property
    def error(self) -> dict[str, str] | None:
        """The status document's ``error`` member."""
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}


def _call(runtime: Runtime, request: ResendRequest | VerifyRequest) -> dict[str, str]:
    if isinstance(request, ResendRequest):
        return runtime.gateway.resend_confirmation_code(
            request.client_id,
            request.username,
            secret_hash=request.secret_hash,
            client_metadata=request.client_metadata,
        )
    return runtime.gateway.get_user_attribute_verification_code(
        request.access_token, request.attribute_name, client_metadata=request.client_metadata
    )


def region_of(runtime: Runtime, request: ResendRequest | VerifyRequest) -> str:
    """The AWS Region ``request`` goes to: its client's pool's, or its token issuer's
    (:class:`~worker.identity.regions.RegionResolver`; the default Region otherwise).

    Raises:
        ConfigurationError: the default Region is needed and cannot be resolved.
    """
    regions = runtime.gateway.regions
    if isinstance(request, ResendRequest):
        return regions.for_client(request.client_id)
    return regions.for_token(request.access_token)


def deliver(
    runtime: Runtime,
    request: ResendRequest | VerifyRequest,
    *,
    priority: Priority,
    on_retry: Callable[[int], None] | None = None,
    on_attempt: Callable[[], None] | None = None,
    reserved: GuardDecision | None = None,
) -> Outcome:
    """Run ``request`` to an outcome.

    ``on_retry(attempts_so_far)`` is called before each backoff sleep (the job turns
    ``retrying``); ``on_attempt()`` before each attempt takes its permit (an interactive
    job counts the call in Redis first, so a worker killed mid-call leaves it counted).
    ``reserved`` is the per-user guard's decision for the first attempt when
    the caller already asked for it (a campaign reserves a batch of rows in one round trip
    with :meth:`~worker.guard.PerUserGuard.reserve_many`, for ``request.operation``,
    and ``request.user_key(runtime.clients)``); every later
    attempt asks the guard again. Returns ``skipped`` with ``CourierUserCapReached`` when
    the per-user guard refuses, ``failed`` with Cognito's code for permanent errors and for
    transient ones that outlast the retry bounds, ``succeeded`` with CodeDeliveryDetails
    otherwise.
    """
    settings = runtime.settings
    limiter = runtime.limiter_for(region_of(runtime, request))
    user_key = request.user_key(runtime.clients)
    attempts = 0
    first = reserved
    fresh_for = fresh_seconds(settings.rate_limit)

    def attempt_once() -> dict[str, str]:
        nonlocal attempts, first
        decision, first = first, None
        if decision is None:
            decision = runtime.guard.reserve(request.operation, user_key)
        _require_allowed(decision, settings.user_hourly_cap)
        if on_attempt is not None:
            on_attempt()

        asked = time.monotonic()

        def send() -> dict[str, str]:
            nonlocal attempts
            granted = time.monotonic()
            attempts += 1
            try:
                answer = _call(runtime, request)
            except StalePermitError:
                attempts -= 1  # refused before it left: not an attempt; the wait goes on
                raise
            except CognitoError as exc:
                metrics.record_permit_wait(priority.value, granted - asked)
                metrics.record_attempt(request.operation, exc.code)
                raise
            metrics.record_permit_wait(priority.value, granted - asked)
            metrics.record_attempt(request.operation, "succeeded")
            return answer

        try:
            return send_with_fresh_permit(
                limiter,
                Category.USER_RESOURCE_READ,
                send,
                priority=priority,
                timeout_seconds=settings.permit_wait_max_seconds,
                fresh_for_seconds=fresh_for,
            )
        except PermitTimeoutError:
            runtime.guard.release(request.operation, user_key)  # nothing was sent
            raise
        except ThrottledError:
            # Someone else spent the shared quota: slow every worker down, and give the
            # user's slot back (a throttled call does not count against the user's cap).
            limiter.report_throttle(Category.USER_RESOURCE_READ)
            runtime.guard.release(request.operation, user_key)
            metrics.record_throttle(request.operation)
            raise

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "%s attempt %d failed (%s); retrying",
            request.operation,
            state.attempt_number,
            exc.code if isinstance(exc, CognitoError) else type(exc).__name__,
        )
        if on_retry is not None:
            on_retry(attempts)

    outcome = _outcome(lambda: retrying(settings, before_sleep=before_sleep)(attempt_once))
    outcome = replace(outcome, attempts=attempts)
    metrics.record_delivery(request.operation, outcome.state, outcome.error_code)
    return outcome


def _require_allowed(decision: GuardDecision, cap_per_hour: int) -> None:
    """Raise UserCapReachedError when the per-user guard refused the call."""
    if not decision.allowed:
        raise UserCapReachedError(
            f"{decision.calls_in_window} calls for this user in the last hour; Cognito "
            f"allows {cap_per_hour}",
            retry_after_seconds=decision.retry_after_seconds,
        )


def _outcome(run: Callable[[], dict[str, str]]) -> Outcome:
    """What ``run`` came to (``attempts`` filled in by the caller)."""
    try:
        delivery = run()
    except UserCapReachedError as exc:
        return Outcome(
            "skipped",
            0,
            error_code=USER_CAP_CODE,
            error_message=str(exc),
            retry_after_seconds=exc.retry_after_seconds,
        )
    except PermitTimeoutError as exc:
        return Outcome("failed", 0, error_code=PERMIT_TIMEOUT_CODE, error_message=str(exc))
    except CognitoError as exc:
        return Outcome("failed", 0, error_code=exc.code, error_message=exc.message)
    return Outcome("succeeded", 0, delivery=delivery)
