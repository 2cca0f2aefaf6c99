"""The baseline: a plain Celery task that calls boto3, nothing else (no limiter, no status).

Used by ``benchmarks.job_path`` and ``benchmarks.campaign`` as the naive pipeline to beat.
Run by those benchmarks as ``celery -A benchmarks.plain_celery worker --pool threads``.
Configured from BENCH_REDIS_URL and BENCH_ENDPOINT_URL.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

from celery import Celery

from benchmarks.harness import unsigned_client

REDIS_URL = os.environ["BENCH_REDIS_URL"]  # set by the benchmark that starts this worker
ENDPOINT_URL = os.environ.get("BENCH_ENDPOINT_URL", "http://127.0.0.1:9229")
DONE_KEY = "bench:plain:done"

app = Celery("plain", broker=REDIS_URL)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)

_local = threading.local()
_lock = threading.Lock()
_client: Any = None
_redis: Any = None


def _clients() -> tuple[Any, Any]:
    global _client, _redis  # noqa: PLW0603
    with _lock:
        if _client is None:
            import redis

            _client = unsigned_client(ENDPOINT_URL)
            _redis = redis.Redis.from_url(REDIS_URL)
    return _client, _redis


@app.task(name="bench.plain_resend")
def plain_resend(client_id: str, username: str) -> None:
    """Call ResendConfirmationCode once and record the finish time."""
    client, redis_client = _clients()
    with contextlib.suppress(client.exceptions.ClientError):
        client.resend_confirmation_code(ClientId=client_id, Username=username)
    redis_client.hset(DONE_KEY, username, repr(time.time()))
