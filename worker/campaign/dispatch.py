"""Sending campaign messages through Celery, by task name.

By name (``app.send_task``) rather than through the task objects of
:mod:`tasks.campaigns`, so the worker's own machinery (the watchdog, added to every worker
by :mod:`worker.app`) can dispatch without importing the tasks back: the tasks import the
app, never the reverse.
"""

from __future__ import annotations

from typing import Any

from worker.queues import BULK_QUEUE

__all__ = ["CHUNK_TASK", "INGEST_TASK", "CeleryDispatcher"]

CHUNK_TASK = "courier.campaign_chunk"
INGEST_TASK = "courier.campaign_ingest"


class CeleryDispatcher:
    """A :class:`worker.campaign.engine.Dispatcher` sending to the ``bulk`` queue of ``app``."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def member(self, campaign_id: str, member: str, token: str) -> None:
        """Queue the chunk task for ``member``; ``token`` is its task id (the lease owner)."""
        # send_task does not apply task_ignore_result (Task.apply_async does): without
        # ignore_result each message subscribes its sender to a result channel of the Redis
        # backend, and chunks sent from inside running tasks stalled a campaign here (at
        # 892 of 1,201 rows in tests/campaign/test_campaigns.py).
        self._app.send_task(
            CHUNK_TASK,
            args=(campaign_id, member),
            task_id=token,
            queue=BULK_QUEUE,
            ignore_result=True,
        )

    def ingest(self, campaign_id: str, generation: str) -> None:
        """Queue the pool-listing task of ``campaign_id`` for ``generation``."""
        self._app.send_task(
            INGEST_TASK,
            args=(campaign_id, generation),
            queue=BULK_QUEUE,
            ignore_result=True,
        )
