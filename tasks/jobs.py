"""The Celery tasks that run single jobs (queue ``interactive``).

Each task opens its sealed arguments and hands the job to :func:`worker.jobs.run_job`,
which says how a job is taken, delivered and recorded. A job that ended ``failed``
raises :class:`~worker.errors.JobFailedError` after its status is recorded, so the task is
a FAILURE (declared in ``throws``: one log line, no traceback, no retry, and the late ack
still happens).
"""

from __future__ import annotations

import redis

from worker.app import app
from worker.delivery import ResendRequest, VerifyRequest
from worker.errors import JobFailedError
from worker.jobs import fail_safely, run_job
from worker.liveness.reaper import TASK_BY_OPERATION
from worker.runtime import get_runtime

__all__ = ["get_user_attribute_verification_code", "resend_confirmation_code"]


@app.task(name=TASK_BY_OPERATION[ResendRequest.operation], throws=(JobFailedError,))
def resend_confirmation_code(
    job_id: str,
    client_id: str,
    username: str,
    sealed_secret_hash: str | None = None,
    client_metadata: dict[str, str] | None = None,
) -> str:
    """Send a fresh confirmation code to ``username``.

    Returns ``"succeeded"`` or ``"skipped: <code>: <message>"``.

    Raises:
        JobFailedError: the job ended ``failed`` (recorded first), with its code and message.
    """
    runtime = get_runtime()
    try:
        secret_hash = (
            runtime.sealer.open(sealed_secret_hash) if sealed_secret_hash is not None else None
        )
        request = ResendRequest(client_id, username, secret_hash, client_metadata)
        return run_job(runtime, job_id, request)
    except redis.RedisError:
        raise  # Redis stayed away: the lease runs out and the reaper sends the job again
    except Exception as exc:
        raise fail_safely(runtime, job_id, ResendRequest.operation, exc) from None


@app.task(name=TASK_BY_OPERATION[VerifyRequest.operation], throws=(JobFailedError,))
def get_user_attribute_verification_code(
    job_id: str,
    sealed_access_token: str,
    attribute_name: str,
    client_metadata: dict[str, str] | None = None,
) -> str:
    """Send an attribute verification code for the token's user (results as above).

    Raises:
        JobFailedError: the job ended ``failed`` (recorded first), with its code and message.
    """
    runtime = get_runtime()
    try:
        request = VerifyRequest(
            runtime.sealer.open(sealed_access_token), attribute_name, client_metadata
        )
        return run_job(runtime, job_id, request)
    except redis.RedisError:
        raise  # Redis stayed away: the lease runs out and the reaper sends the job again
    except Exception as exc:
        raise fail_safely(runtime, job_id, VerifyRequest.operation, exc) from None
