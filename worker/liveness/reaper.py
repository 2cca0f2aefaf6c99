"""The job reaper: sends again, within seconds, an interactive job whose worker died.

The worker running a job holds a short lease on it (COURIER_LEASE_SECONDS) that its
heartbeat renews (:mod:`worker.liveness.heartbeat`). Every worker's watchdog calls :func:`reap_jobs`
each COURIER_CAMPAIGN_WATCHDOG_SECONDS: a job whose lease ran out goes back to ``queued``
with ``redeliveries`` + 1 and ``courier:jobs:redelivered`` + 1 (one atomic script, so of
several reapers only one wins) and is sent again to the ``interactive`` queue, by task
name, with the keyword arguments stored at submit (secrets sealed). The dead worker's own
message stays unacknowledged until the visibility timeout, the last backstop: when it
comes back it finds the job terminal (or held by a live worker) and is acknowledged
without a call.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from worker.queues import INTERACTIVE_QUEUE
from worker.sealing import REDACTED
from worker.status import StatusStore

__all__ = ["TASK_BY_OPERATION", "kwargs_repr", "reap_jobs"]

log = logging.getLogger(__name__)

TASK_BY_OPERATION: Final = {
    "ResendConfirmationCode": "courier.resend_confirmation_code",
    "GetUserAttributeVerificationCode": "courier.get_user_attribute_verification_code",
}
"""The Celery task that runs each operation (the names :mod:`tasks.jobs` registers)."""


def kwargs_repr(kwargs: dict[str, Any]) -> str:
    """What Celery events and Flower show for a job's arguments: secrets redacted."""
    shown = {
        key: (REDACTED if key.startswith("sealed_") and value is not None else value)
        for key, value in kwargs.items()
    }
    return repr(shown)


def reap_jobs(statuses: StatusStore, app: Any, *, most: int = 100) -> int:
    """Send again every job whose holder stopped beating; returns how many were sent.

    ``app`` is the Celery app (``send_task`` by name: no import of :mod:`tasks`).

    Raises:
        redis.RedisError: Redis failed (the watchdog tries again next period).
    """
    sent = 0
    for job_id in statuses.expired(most=most):
        taken = statuses.reap(job_id)
        if taken is None:
            continue
        operation, kwargs = taken
        log.warning("job %s: its worker stopped mid-call; sending it again", job_id)
        app.send_task(
            TASK_BY_OPERATION[operation],
            kwargs=kwargs,
            task_id=job_id,
            queue=INTERACTIVE_QUEUE,
            argsrepr="()",
            kwargsrepr=kwargs_repr(kwargs),
        )
        sent += 1
    return sent
