"""One request's whole path: per-user guard, global permit, call, classify, retry.

:func:`deliver` is shared by single jobs (:mod:`worker.jobs`) and campaign rows. It
resolves the request's Region and per-user key once (:meth:`ResendRequest.target`; a
verify job's token is verified once, :func:`worker.identity.users.token_identity`, and only
its verified claims are used) and hands them to the guard, the limiter and the gateway.
Every attempt takes a permit from the global limiter first (invariant 1), throttled and
transient failures are retried with exponential backoff and full jitter within bounded
attempts and total time (invariant 5), and the per-user guard refuses a call Cognito
would refuse for its hourly cap before it is made. It never raises for a Cognito
failure: the :class:`Outcome` says what happened.

**Ambiguous calls** (:class:`~worker.errors.AmbiguousCallError`: the request left, no
answer came, a code may have been delivered). After one, at most
COURIER_AMBIGUOUS_RETRIES (default 1) more calls go out. A delivery that ends without
success after an ambiguous call and without a definite Cognito answer since ends
``failed`` with ``CourierDeliveryUnconfirmed``, whose message says how many calls left
and how many went unanswered; it is never ``skipped``. A delivery whose own calls spent
the user's hourly cap ends ``failed`` with the last answer they met, never
``CourierUserCapReached`` (which means: nothing was sent, the user's hour was already
spent).

**Progress.** What a delivery has done (calls that left, unanswered calls, the retry
budget, a guard slot or a counted call not yet sent) lives in a :class:`Progress` that
the caller keeps: when Redis goes away mid-delivery the caller waits for it and calls
:func:`deliver` again with the same ``Progress``, which goes on where it stopped instead
of restarting the count and the budget.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Literal

from tenacity import RetryCallState

from worker.errors import (
    CognitoError,
    NotAuthorizedError,
    PermanentError,
    PermitTimeoutError,
    StalePermitError,
    ThrottledError,
    TokenKeysUnavailableError,
    UserCapReachedError,
)
from worker.guard import GuardDecision
from worker.identity.tokens import VerifiedToken
from worker.identity.users import resend_user_key, token_identity
from worker.observe import worker_metrics as metrics
from worker.progress import Progress, Tally
from worker.ratelimit import (
    CampaignShare,
    Category,
    Priority,
    fresh_seconds,
    send_with_fresh_permit,
)
from worker.retry import retrying

if TYPE_CHECKING:
    from worker.identity.clients import ClientRegistry
    from worker.runtime import Runtime
    from worker.settings import Settings

__all__ = [
    "DELIVERY_UNCONFIRMED_CODE",
    "PERMIT_TIMEOUT_CODE",
    "USER_CAP_CODE",
    "Outcome",
    "ResendRequest",
    "Target",
    "VerifyRequest",
    "deliver",
]

log = logging.getLogger(__name__)

USER_CAP_CODE = "CourierUserCapReached"
PERMIT_TIMEOUT_CODE = "CourierPermitTimeout"
DELIVERY_UNCONFIRMED_CODE = "CourierDeliveryUnconfirmed"


@dataclass(frozen=True)
class Target:
    """Where a request goes and whom it counts against, resolved once per request.

    Attributes:
        region: the AWS Region of the call (:mod:`worker.identity.regions`).
        user_key: the per-user guard's key (:mod:`worker.identity.users`).
    """

    region: str
    user_key: str


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

    def target(self, runtime: Runtime) -> Target:
        """The client's pool's Region (else the default one) and the user's key.

        Raises:
            ConfigurationError: the default Region is needed and cannot be resolved.
        """
        region = runtime.gateway.regions.for_client(self.client_id)
        return Target(region, self.user_key(runtime.clients))

    def __repr__(self) -> str:
        return f"ResendRequest(client_id={self.client_id!r}, username={self.username!r})"


@dataclass(frozen=True)
class VerifyRequest:
    """A GetUserAttributeVerificationCode call, validated (token in clear); ``identity``,
    the token's verified claims, is filled in by :func:`deliver` before anything else."""

    access_token: str
    attribute_name: str
    client_metadata: dict[str, str] | None = None
    identity: VerifiedToken | None = None

    operation = "GetUserAttributeVerificationCode"

    def target(self, runtime: Runtime) -> Target:
        """The signing pool's Region and the token's user (ValueError: not verified yet)."""
        if self.identity is None:
            raise ValueError("the AccessToken must be verified before it is routed")
        return Target(self.identity.region, self.identity.user_key)

    def __repr__(self) -> str:  # the token must never reach a log or a traceback
        return f"VerifyRequest(access_token=<sealed>, attribute_name={self.attribute_name!r})"


@dataclass(frozen=True)
class Outcome:
    """What became of one request.

    ``attempts`` counts the calls that left (repeats included), ``ambiguous`` those of
    them whose answer never came.
    """

    state: Literal["succeeded", "failed", "skipped"]
    attempts: int
    delivery: dict[str, str] | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after_seconds: float | None = None
    ambiguous: int = 0

    @property
    def error(self) -> dict[str, str] | None:
        """The status document's ``error`` member."""
        if self.error_code is None:
            return None
        return {"code": self.error_code, "message": self.error_message or ""}


def deliver(
    runtime: Runtime,
    request: ResendRequest | VerifyRequest,
    *,
    priority: Priority,
    on_retry: Callable[[int], None] | None = None,
    tally: Tally | None = None,
    reserved: GuardDecision | None = None,
    campaign: CampaignShare | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Run ``request`` to an outcome.

    ``on_retry(attempts_so_far)`` is called before each backoff sleep (the job turns
    ``retrying``); ``tally`` is told of each call before it leaves and of each answer
    that never came (an interactive job counts them in Redis, so a worker killed mid-call
    leaves it counted). ``reserved`` is the per-user guard's decision for the first
    attempt when the caller already asked for it (a campaign reserves a batch of rows in
    one round trip with :meth:`~worker.guard.PerUserGuard.reserve_many`, for
    ``request.operation`` and ``request.user_key(runtime.clients)``); every later attempt
    asks the guard again. ``progress`` is what an earlier, interrupted run of this same
    delivery did (see the module); None starts afresh. ``campaign`` (a campaign's bulk
    work) paces every permit at its share.

    Returns ``skipped`` with ``CourierUserCapReached`` when the per-user guard refuses
    before any call of this delivery left, ``failed`` with ``CourierDeliveryUnconfirmed``
    after unanswered calls (see the module), ``failed`` with Cognito's code for permanent
    errors and for transient ones that outlast the retry bounds, ``succeeded`` with
    CodeDeliveryDetails otherwise.

    A verify job's token that fails verification ends ``failed`` (``NotAuthorizedException``,
    or ``CourierTokenKeysUnavailable`` past the retry bounds) before any slot, permit or
    call; a ``NotAuthorizedException`` from Cognito gives the user's guard slot back.

    Raises:
        redis.RedisError: Redis failed (guard, limiter, tally); ``progress`` says where.
    """
    if isinstance(request, VerifyRequest) and request.identity is None:
        patience = retrying(runtime.settings, retry_on=(TokenKeysUnavailableError,))
        try:
            identity = token_identity(runtime.tokens, request.access_token, patience=patience)
        except (NotAuthorizedError, TokenKeysUnavailableError) as exc:
            metrics.record_delivery(request.operation, "failed", exc.code)
            return Outcome("failed", 0, error_code=exc.code, error_message=str(exc))
        request = replace(request, identity=identity)
    run = _Delivery(
        runtime,
        request,
        priority,
        tally=tally,
        done=progress or Progress(),
        on_retry=on_retry,
        campaign=campaign,
    )
    run.first = reserved if run.done.tries == 0 else None
    settings = runtime.settings
    done = run.done
    retry = retrying(settings, before_sleep=run.before_sleep, stop=lambda _: done.spent(settings))
    try:
        outcome = Outcome("succeeded", 0, delivery=retry(run.attempt_once))
    except (CognitoError, PermitTimeoutError, UserCapReachedError) as exc:
        outcome = _ended(done, settings, exc)
    outcome = replace(outcome, attempts=done.attempts, ambiguous=done.ambiguous)
    metrics.record_delivery(request.operation, outcome.state, outcome.error_code)
    return outcome


class _Delivery:
    """One run of :func:`deliver`: its attempts, each one permit and at most one call."""

    def __init__(
        self,
        runtime: Runtime,
        request: ResendRequest | VerifyRequest,
        priority: Priority,
        *,
        tally: Tally | None,
        done: Progress,
        on_retry: Callable[[int], None] | None,
        campaign: CampaignShare | None,
    ) -> None:
        self.runtime, self.request, self.priority = runtime, request, priority
        self.campaign = campaign
        self.tally, self.done, self.on_retry = tally, done, on_retry
        self.target = request.target(runtime)
        self.limiter = runtime.limiter_for(self.target.region)
        self.first: GuardDecision | None = None
        self.fresh_for = fresh_seconds(runtime.settings.rate_limit)

    def attempt_once(self) -> dict[str, str]:
        """Guard slot, counted call, permit, call (the guard and count kept on a re-run)."""
        done, guard, operation = self.done, self.runtime.guard, self.request.operation
        done.flush(self.tally)
        done.tries += 1
        if not done.slot_held:
            decision, self.first = self.first, None
            if decision is None:
                decision = guard.reserve(operation, self.target.user_key)
            _require_allowed(decision, self.runtime.settings.user_hourly_cap)
            done.slot_held = True
        if self.tally is not None and not done.count_pending:
            self.tally.call_leaving()
        done.count_pending = True
        try:
            return send_with_fresh_permit(
                self.limiter,
                Category.USER_RESOURCE_READ,
                partial(self.send, time.monotonic()),
                priority=self.priority,
                timeout_seconds=self.runtime.settings.permit_wait_max_seconds,
                fresh_for_seconds=self.fresh_for,
                campaign=self.campaign,
            )
        except PermitTimeoutError:
            guard.release(operation, self.target.user_key)  # nothing was sent
            done.slot_held = False
            if self.tally is not None:
                self.tally.call_stayed()
            done.count_pending = False
            raise
        except ThrottledError:
            # Someone else spent the shared quota: slow every worker down, and give the
            # user's slot back (a throttled call does not count against the user's cap).
            self.limiter.report_throttle(Category.USER_RESOURCE_READ)
            guard.release(operation, self.target.user_key)
            metrics.record_throttle(operation)
            raise
        except PermanentError as exc:
            if exc.code == NotAuthorizedError.code:  # the credential refused, not the user
                guard.release(operation, self.target.user_key)
                done.slot_held = False
            raise
        finally:
            done.flush(self.tally)

    def send(self, asked: float) -> dict[str, str]:
        """The call itself, once its permit is granted."""
        granted = time.monotonic()
        self.done.leaving()
        operation = self.request.operation
        try:
            answer = _call(self.runtime, self.request, self.target.region)
        except StalePermitError:  # refused before it left: not an attempt; wait on
            self.done.leaving(-1)
            raise
        except CognitoError as exc:
            metrics.record_permit_wait(self.priority.value, granted - asked)
            metrics.record_attempt(operation, exc.code)
            self.done.met(exc)
            raise
        metrics.record_permit_wait(self.priority.value, granted - asked)
        metrics.record_attempt(operation, "succeeded")
        return answer

    def before_sleep(self, state: RetryCallState) -> None:
        """Log the failed attempt; the job turns ``retrying``."""
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "%s attempt %d failed (%s); retrying",
            self.request.operation,
            self.done.tries,
            exc.code if isinstance(exc, CognitoError) else type(exc).__name__,
        )
        if self.on_retry is not None:
            self.on_retry(self.done.attempts)


def _call(runtime: Runtime, request: ResendRequest | VerifyRequest, region: str) -> dict[str, str]:
    if isinstance(request, ResendRequest):
        return runtime.gateway.resend_confirmation_code(
            request.client_id,
            request.username,
            region=region,
            secret_hash=request.secret_hash,
            client_metadata=request.client_metadata,
        )
    return runtime.gateway.get_user_attribute_verification_code(
        request.access_token,
        request.attribute_name,
        region=region,
        client_metadata=request.client_metadata,
    )


def _require_allowed(decision: GuardDecision, cap_per_hour: int) -> None:
    """Raise UserCapReachedError when the per-user guard refused the call."""
    if not decision.allowed:
        raise UserCapReachedError(
            f"{decision.calls_in_window} calls for this user in the last hour; Cognito "
            f"allows {cap_per_hour}",
            retry_after_seconds=decision.retry_after_seconds,
        )


def _ended(
    done: Progress, settings: Settings, exc: CognitoError | PermitTimeoutError | UserCapReachedError
) -> Outcome:
    """The outcome of a delivery that stopped on ``exc`` (see the module)."""
    if isinstance(exc, UserCapReachedError):
        if done.last_error is None:  # none of this delivery's calls left: the hour was spent
            return Outcome(
                "skipped",
                0,
                error_code=USER_CAP_CODE,
                error_message=str(exc),
                retry_after_seconds=exc.retry_after_seconds,
            )
        exc = done.last_error  # its own calls spent the cap: say what they met
    if isinstance(exc, PermanentError):
        return Outcome("failed", 0, error_code=exc.code, error_message=exc.message)
    if done.ambiguous:
        last = exc.code if isinstance(exc, CognitoError) else PERMIT_TIMEOUT_CODE
        message = (
            f"{done.attempts} call(s) left, {done.ambiguous} without an answer (read timeout "
            "or connection closed after sending): a code may have been delivered; at most "
            f"{settings.ambiguous_retries} more call(s) follow an unanswered one "
            f"(COURIER_AMBIGUOUS_RETRIES); last: {last}"
        )
        return Outcome("failed", 0, error_code=DELIVERY_UNCONFIRMED_CODE, error_message=message)
    if isinstance(exc, PermitTimeoutError):
        return Outcome("failed", 0, error_code=PERMIT_TIMEOUT_CODE, error_message=str(exc))
    return Outcome("failed", 0, error_code=exc.code, error_message=exc.message)
