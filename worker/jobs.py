"""A single job's life in a worker: take it, deliver it, record how it ended.

:func:`run_job` reads the job's status document first: a job already terminal (a
redelivery after success) is acknowledged without a call, and so is a job another live
worker holds; a job found ``running`` or ``retrying`` was in flight when a worker died,
and the repeat is counted (the document's ``redeliveries``, ``courier:jobs:redelivered``).
While the job runs, the worker's heartbeat renews its short lease, so if this worker dies
the reaper (:mod:`worker.liveness.reaper`) sends the job again within seconds; a Redis
outage is waited out (COURIER_REDIS_WAIT_MAX_SECONDS) rather than failing the job, and
the delivery resumed after it goes on with its count and its retry budget
(:class:`~worker.progress.Progress`). Every call that leaves is counted in Redis, in
``attempts``, once, before it leaves (and an unanswered one in ``ambiguous``); the final
write leaves those counts as they are. Whatever happens, the job
ends in a terminal state: :func:`fail_safely` records an unexpected fault as ``failed``
with ``CourierInternalError`` rather than leaving it ``running``.

What Celery (and so Flower) sees mirrors the status document: a job that ended ``failed``
raises :class:`~worker.errors.JobFailedError` with the error's code and message *after*
its status is recorded; ``succeeded`` returns ``"succeeded"``; ``skipped`` returns
``"skipped: <code>: <message>"`` (a SUCCESS, since nothing went wrong, whose result says
why no code was sent). The Celery tasks themselves are in :mod:`tasks.jobs`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from worker.broker.deadletter import DeadLetters
from worker.delivery import Outcome, ResendRequest, VerifyRequest, deliver
from worker.errors import CourierError, JobFailedError, SealError
from worker.liveness.heartbeat import holder_token, patiently
from worker.observe.worker_metrics import record_delivery, record_job_duration
from worker.progress import Progress
from worker.queues import INTERACTIVE_QUEUE
from worker.ratelimit import Priority
from worker.runtime import Runtime
from worker.status import TERMINAL_STATES, job_key

__all__ = ["fail_safely", "run_job", "task_result"]

log = logging.getLogger(__name__)


def run_job(runtime: Runtime, job_id: str, request: ResendRequest | VerifyRequest) -> str:
    """Deliver ``request`` as job ``job_id`` and record its outcome; the task's result.

    Returns ``"succeeded"``, ``"skipped: <code>: <message>"``, ``"running"`` (another live
    worker holds the job) or ``"unknown"`` (no status document: dead-lettered, not sent).

    Raises:
        JobFailedError: the job ended ``failed`` (recorded first).
        redis.RedisError: Redis stayed away longer than COURIER_REDIS_WAIT_MAX_SECONDS.
    """
    statuses = runtime.statuses
    token = holder_token()
    lease_seconds = runtime.settings.lease_seconds
    started = statuses.start(job_id, holder=token, lease_seconds=lease_seconds)
    previous, base = started.previous, started.attempts
    if previous is None:
        # Expired or evicted: never acknowledged silently (DeadLetters logs the line).
        DeadLetters(runtime.redis).record(
            "no_status",
            "no status document (expired or evicted); not sent",
            queue=INTERACTIVE_QUEUE,
            job_id=job_id,
        )
        return "unknown"
    if previous in TERMINAL_STATES:
        # A duplicate delivery of a finished job: send nothing, repeat the recorded outcome.
        error = statuses.get(job_id).get("error") or {}
        return task_result(previous, error.get("code"), error.get("message"))
    if started.held:
        log.info("job %s runs on another live worker; not sending it twice", job_id)
        return "running"
    if previous in ("running", "retrying"):
        log.warning("job %s was in flight when a worker stopped; sending again", job_id)

    def mark_retrying(attempts: int) -> None:
        statuses.transition(job_id, "retrying")  # the count is in Redis already

    progress = Progress()
    tally = _JobTally(runtime, job_id)

    def run() -> Outcome:
        # a Redis failure inside comes before the call left (limiter, guard, tally) or
        # after its answer: delivering again once Redis is back, with the same progress,
        # sends no code twice and goes on with the count and the retry budget
        return deliver(
            runtime,
            request,
            priority=Priority.INTERACTIVE,
            on_retry=mark_retrying,
            tally=tally,
            progress=progress,
        )

    within = runtime.settings.redis_wait_max_seconds
    with runtime.heartbeat.holding(statuses.lease(job_id, token, lease_seconds)):
        outcome = patiently(runtime.redis, run, within_seconds=within, what=f"job {job_id}")
        patiently(
            runtime.redis,
            lambda: _finish(runtime, job_id, outcome, base, request.operation),
            within_seconds=within,
            what=f"job {job_id}",
        )
    return task_result(outcome.state, outcome.error_code, outcome.error_message)


def task_result(state: str, code: str | None, message: str | None) -> str:
    """The task's result for a recorded outcome.

    Raises:
        JobFailedError: ``state`` is ``failed``.
    """
    if state == "failed":
        raise JobFailedError(code or "CourierInternalError", message or "")
    if state == "skipped":
        return f"skipped: {code}: {message}"
    return state


class _JobTally:
    """A job's calls, counted in its status document as they happen (delivery.Tally)."""

    def __init__(self, runtime: Runtime, job_id: str) -> None:
        self._statuses, self._job_id = runtime.statuses, job_id

    def call_leaving(self) -> None:
        self._statuses.count_attempt(self._job_id)

    def call_stayed(self) -> None:
        self._statuses.count_attempt(self._job_id, -1)

    def answer_lost(self) -> None:
        self._statuses.count_ambiguous(self._job_id)


def _finish(runtime: Runtime, job_id: str, outcome: Outcome, base: int, operation: str) -> None:
    # attempts and ambiguous were counted in Redis as the calls left: not written here
    moved = runtime.statuses.move(
        job_id, outcome.state, delivery=outcome.delivery, error=outcome.error
    )
    if moved.created_at is not None:  # the duration from the same round trip
        record_job_duration(operation, outcome.state, moved.created_at, datetime.now(UTC))
    log.info(
        "job %s %s after %d attempt(s)%s",
        job_id,
        outcome.state,
        base + outcome.attempts,
        f" ({outcome.error_code})" if outcome.error_code else "",
    )


def _observe_duration(runtime: Runtime, job_id: str, operation: str, state: str) -> None:
    created_at = runtime.redis.hget(job_key(job_id), "created_at")
    if isinstance(created_at, bytes):
        record_job_duration(operation, state, created_at.decode(), datetime.now(UTC))


def fail_safely(runtime: Runtime, job_id: str, operation: str, exc: Exception) -> JobFailedError:
    """Record ``failed`` for a fault outside the delivery; the error for the task to raise.

    A :class:`~worker.errors.JobFailedError` from :func:`run_job` (already recorded) is
    returned as it is; a :class:`~worker.errors.SealError` is recorded as
    ``CourierSealError``, anything else as ``CourierInternalError`` (its message only when
    it is one of the project's own errors, so no foreign text reaches the document).
    """
    if isinstance(exc, JobFailedError):
        return exc
    code = "CourierSealError" if isinstance(exc, SealError) else "CourierInternalError"
    message = str(exc) if isinstance(exc, CourierError) else type(exc).__name__
    log.error("job %s failed before reaching Cognito: %s", job_id, message)
    runtime.statuses.transition(job_id, "failed", error={"code": code, "message": message})
    record_delivery(operation, "failed", code)
    _observe_duration(runtime, job_id, operation, "failed")
    return JobFailedError(code, message)
