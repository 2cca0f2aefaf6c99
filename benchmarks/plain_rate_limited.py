"""The rate-limit baseline: a plain Celery task with Celery's own ``rate_limit``.

Used by ``benchmarks.limits`` to show what Celery's built-in limit does against the same
emulator quota: each worker process gets ``BENCH_RATE_LIMIT / BENCH_WORKERS`` tasks per
second (Celery's ``rate_limit`` is per worker, so the budget is split by hand), and every
process limits itself alone: nothing is shared, nothing adapts to throttles.

Run as ``celery -A benchmarks.plain_rate_limited worker --pool threads``; configured from
BENCH_REDIS_URL, BENCH_ENDPOINT_URL, BENCH_RATE_LIMIT (calls/s for all workers together)
and BENCH_WORKERS (how many worker processes share it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from celery import Celery

from benchmarks.harness import unsigned_client

REDIS_URL = os.environ["BENCH_REDIS_URL"]  # set by the benchmark that starts this worker
ENDPOINT_URL = os.environ.get("BENCH_ENDPOINT_URL", "http://127.0.0.1:9229")
RATE_LIMIT = float(os.environ.get("BENCH_RATE_LIMIT", "40"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))

app = Celery("plain_rate_limited", broker=REDIS_URL)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    task_default_queue="plain_rate_limited",
)

_lock = threading.Lock()
_client: Any = None


def _cognito() -> Any:
    global _client  # noqa: PLW0603
    with _lock:
        if _client is None:
            _client = unsigned_client(ENDPOINT_URL)
    return _client


@app.task(name="bench.rate_limited_resend", rate_limit=f"{RATE_LIMIT / WORKERS:g}/s")
def rate_limited_resend(client_id: str, username: str) -> None:
    """Call ResendConfirmationCode once; a throttle is simply lost (no retry)."""
    client = _cognito()
    with contextlib.suppress(client.exceptions.ClientError):
        client.resend_confirmation_code(ClientId=client_id, Username=username)
