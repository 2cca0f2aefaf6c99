"""What Celery (and so Flower) records for a job mirrors its status document.

A refused job is a task FAILURE carrying Cognito's code and message, never retried by
Celery, its message acknowledged; a skipped job is a SUCCESS whose result says why.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.signals import task_failure, task_retry, task_success

from tasks import submit_resend, wait
from worker.errors import JobFailedError

pytestmark = pytest.mark.usefixtures("celery_worker")


class Seen:
    """Celery's task signals of this test, by task id."""

    def __init__(self) -> None:
        self.failures: dict[str, BaseException] = {}
        self.successes: dict[str, Any] = {}
        self.retries: list[str] = []
        self.lock = threading.Lock()

    def failure(self, task_id: str = "", exception: Any = None, **_: Any) -> None:
        with self.lock:
            self.failures[task_id] = exception

    def success(self, sender: Any = None, result: Any = None, **_: Any) -> None:
        with self.lock:
            self.successes[sender.request.id] = result

    def retry(self, request: Any = None, **_: Any) -> None:
        with self.lock:
            self.retries.append(request.id)


@pytest.fixture
def seen() -> Iterator[Seen]:
    """Collects the worker's task_failure / task_success / task_retry signals."""
    record = Seen()
    task_failure.connect(record.failure, weak=False)
    task_success.connect(record.success, weak=False)
    task_retry.connect(record.retry, weak=False)
    yield record
    task_failure.disconnect(record.failure)
    task_success.disconnect(record.success)
    task_retry.disconnect(record.retry)


def _until(check: Any, seconds: float = 10) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_refused_job_is_a_failure_with_the_code_acked_and_not_retried(
    pool: Any, seen: Seen, redis_client: redis.Redis
) -> None:
    job_id = submit_resend(pool.client_id, f"nobody-{uuid.uuid4().hex[:8]}")
    document = wait(job_id, timeout_seconds=20)
    assert document["state"] == "failed"
    _until(lambda: job_id in seen.failures)
    exc = seen.failures[job_id]
    assert isinstance(exc, JobFailedError)
    assert exc.code == document["error"]["code"] == "UserNotFoundException"
    assert exc.message == document["error"]["message"]
    assert job_id not in seen.retries
    assert job_id not in seen.successes
    # acks_late: the message is acknowledged on failure (not left for redelivery). Only
    # this job's message: a worker killed by an earlier test leaves its own unacked ones.
    _until(lambda: not any(job_id.encode() in raw for raw in redis_client.hvals("unacked")))
    assert redis_client.llen("interactive") == 0


def test_sent_job_succeeds_and_skipped_job_says_why(pool: Any, seen: Seen) -> None:
    username = pool.add_user(f"user-{uuid.uuid4().hex[:8]}")
    # six distinct requests (identical ones would coalesce into one job)
    ids = [submit_resend(pool.client_id, username, client_metadata={"n": str(n)}) for n in range(6)]
    states = [wait(job_id, timeout_seconds=20)["state"] for job_id in ids]
    assert states == ["succeeded"] * 5 + ["skipped"]
    _until(lambda: all(job_id in seen.successes for job_id in ids))
    assert [seen.successes[job_id] for job_id in ids[:5]] == ["succeeded"] * 5
    assert seen.successes[ids[5]].startswith("skipped: CourierUserCapReached: ")
    assert not seen.failures
