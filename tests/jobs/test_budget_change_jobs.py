"""A budget change reaches the very next job: ``courier limit set`` between two jobs.

Before, ``limit set 0.01``, one job, ``limit set 40`` left the next job waiting out the old
period (it failed ``CourierPermitTimeout ... next in 95.3 s``). Here the commands an
operator types run as processes against the test Redis, and the jobs go through a real
worker to the emulator: at 0.05 calls/s the next permit after a job is 20 s away, so a
second job that succeeds within a few seconds after ``limit set 40`` took the new rate.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tasks import submit_resend, wait
from tests.support.processes import courier

pytestmark = pytest.mark.usefixtures("celery_worker")


def _limit(*args: str) -> None:
    env = {**os.environ, "COURIER_REDIS_URL": os.environ["COURIER_TEST_REDIS_URL"]}
    done = courier("limit", *args, "--json", env=env)
    assert done.returncode == 0, (done.stdout, done.stderr)


@pytest.fixture
def budget_restored() -> Iterator[None]:
    yield
    _limit("reset")


@pytest.mark.usefixtures("budget_restored")
def test_raising_the_budget_frees_the_next_job_at_once(pool: Any) -> None:
    first, second = (pool.add_user(f"budget-{uuid.uuid4().hex[:10]}") for _ in range(2))
    _limit("set", "0.05")  # one call every 20 s
    earlier = wait(submit_resend(pool.client_id, first), timeout_seconds=30)
    assert earlier["state"] == "succeeded", earlier["error"]
    _limit("set", "40")
    began = time.monotonic()
    document = wait(submit_resend(pool.client_id, second), timeout_seconds=30)
    took = time.monotonic() - began
    assert document["state"] == "succeeded", document
    assert took < 5, f"the second job took {took:.1f} s: the old 20-s period still held"
