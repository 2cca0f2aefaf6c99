"""The Celery tasks that run single jobs (queue ``interactive``).

Each task reads its job's status document first: a job already terminal (a redelivery
after success) is acknowledged without a call; a job found ``running`` or ``retrying`` was
in flight when a worker died, and the repeat is counted in ``courier:jobs:redelivered``.
Whatever happens, the job ends in a terminal state; an unexpected fault is recorded as
``failed`` with ``CourierInternalError`` rather than left ``running``.
"""

from __future__ import annotations

import logging
from typing import Any

from worker.app import INTERACTIVE_QUEUE, app
from worker.deadletter import DeadLetters
from worker.delivery import Outcome, ResendRequest, VerifyRequest, deliver
from worker.errors import CourierError, SealError
from worker.ratelimit import Priority
from worker.runtime import Runtime, get_runtime
from worker.status import TERMINAL_STATES

__all__ = [
    "REDELIVERED_KEY",
    "get_user_attribute_verification_code",
    "resend_confirmation_code",
]

log = logging.getLogger(__name__)

REDELIVERED_KEY = "courier:jobs:redelivered"


def _run(runtime: Runtime, job_id: str, request: ResendRequest | VerifyRequest) -> str:
    statuses = runtime.statuses
    previous = statuses.start(job_id)
    if previous is None:
        # Expired or evicted: never acknowledged silently (worker.deadletter logs the line).
        DeadLetters(runtime.redis).record(
            "no_status",
            "no status document (expired or evicted); not sent",
            queue=INTERACTIVE_QUEUE,
            job_id=job_id,
        )
        return "unknown"
    if previous in TERMINAL_STATES:
        return previous  # a duplicate delivery of a finished job: acknowledge, send nothing
    if previous in ("running", "retrying"):
        runtime.redis.incr(REDELIVERED_KEY)
        log.warning("job %s was in flight when a worker stopped; sending again", job_id)

    def mark_retrying(attempts: int) -> None:
        statuses.transition(job_id, "retrying", attempts=attempts)

    outcome = deliver(runtime, request, priority=Priority.INTERACTIVE, on_retry=mark_retrying)
    _finish(runtime, job_id, outcome)
    return outcome.state


def _finish(runtime: Runtime, job_id: str, outcome: Outcome) -> None:
    runtime.statuses.transition(
        job_id,
        outcome.state,
        attempts=outcome.attempts,
        delivery=outcome.delivery,
        error=outcome.error,
    )
    log.info(
        "job %s %s after %d attempt(s)%s",
        job_id,
        outcome.state,
        outcome.attempts,
        f" ({outcome.error_code})" if outcome.error_code else "",
    )


def _fail_safely(runtime: Runtime, job_id: str, exc: Exception) -> str:
    code = "CourierSealError" if isinstance(exc, SealError) else "CourierInternalError"
    message = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
    log.error("job %s failed before reaching Cognito: %s", job_id, message)
    runtime.statuses.transition(job_id, "failed", error={"code": code, "message": message})
    return "failed"


@app.task(name="courier.resend_confirmation_code")
def resend_confirmation_code(
    job_id: str,
    client_id: str,
    username: str,
    sealed_secret_hash: str | None = None,
    client_metadata: dict[str, str] | None = None,
) -> str:
    """Send a fresh confirmation code to ``username``; returns the job's final state."""
    runtime = get_runtime()
    try:
        secret_hash = (
            runtime.sealer.open(sealed_secret_hash) if sealed_secret_hash is not None else None
        )
        request = ResendRequest(client_id, username, secret_hash, client_metadata)
        return _run(runtime, job_id, request)
    except Exception as exc:
        return _fail_safely(runtime, job_id, exc)


@app.task(name="courier.get_user_attribute_verification_code")
def get_user_attribute_verification_code(
    job_id: str,
    sealed_access_token: str,
    attribute_name: str,
    client_metadata: dict[str, str] | None = None,
) -> str:
    """Send an attribute verification code for the token's user; returns the final state."""
    runtime = get_runtime()
    try:
        request = VerifyRequest(
            runtime.sealer.open(sealed_access_token), attribute_name, client_metadata
        )
        return _run(runtime, job_id, request)
    except Exception as exc:
        return _fail_safely(runtime, job_id, exc)


def kwargs_repr(kwargs: dict[str, Any]) -> str:
    """What Celery events and Flower show for a job's arguments: secrets redacted."""
    shown = {
        key: ("<sealed>" if key.startswith("sealed_") and value is not None else value)
        for key, value in kwargs.items()
    }
    return repr(shown)
