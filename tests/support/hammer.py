"""Child-process body for the multi-process limiter test.

A module of its own, importable by name in any process (the editable install puts the
repository on ``sys.path``), so that a ``spawn`` child can unpickle :func:`hammer`
whatever pytest's import mode.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from worker.errors import PermitTimeoutError
from worker.ratelimit import Category, Grant, LimiterConfig, Priority, RedisRateLimiter


def hammer(
    url: str, *, budget: float, seconds: float, threads: int, barrier: Any, out: Any
) -> None:
    """Saturate the limiter from ``threads`` threads for ``seconds``; report grant times.

    One thread asks as bulk (bulk share 0.5), the others as interactive. Every grant's time
    on Redis's clock and its priority go to the ``out`` queue as one list.
    """
    client = redis.Redis.from_url(url)
    grants: list[Grant] = []
    config = LimiterConfig(
        budgets={Category.USER_RESOURCE_READ: budget, Category.USER_LIST: budget},
        bulk_shares={Category.USER_RESOURCE_READ: 0.5},
    )
    limiter = RedisRateLimiter(client, config, on_grant=grants.append)
    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds

    def run(priority: Priority) -> None:
        while (left := deadline - time.monotonic()) > 0:
            try:
                limiter.acquire(
                    Category.USER_RESOURCE_READ, priority=priority, timeout_seconds=left
                )
            except PermitTimeoutError:
                return

    priorities = [Priority.BULK] + [Priority.INTERACTIVE] * (threads - 1)
    workers = [threading.Thread(target=run, args=(p,)) for p in priorities]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    client.close()
    out.put([(g.granted_at, g.priority.value) for g in grants])
