"""Sending campaign messages through Celery, by task name.

By name (``app.send_task``) rather than through the task objects of
:mod:`tasks.campaigns`, so the worker's own machinery (the campaign watchdog, added to
every worker by :mod:`worker.app`) can dispatch without importing the tasks back: the
tasks import the app, never the reverse.
"""

from __future__ import annotations

from typing import Any

from worker.queues import BULK_QUEUE

__all__ = ["CHUNK_TASK", "TICK_TASK", "CeleryDispatcher"]

CHUNK_TASK = "courier.campaign_chunk"
TICK_TASK = "courier.campaign_tick"


# send_task does not apply task_ignore_result (Task.apply_async does): without this, every
# message subscribes the sender to a result channel in the Redis backend, and campaign
# chunks sent from inside running tasks stall (measured: tests/campaign/test_campaigns.py).
_NO_RESULT = {"ignore_result": True}


class CeleryDispatcher:
    """A :class:`worker.campaign.engine.Dispatcher` sending to the ``bulk`` queue of ``app``."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def member(self, campaign_id: str, member: str, token: str) -> None:
        """Queue the chunk task for ``member``; ``token`` is its task id (the lease owner)."""
        self._app.send_task(CHUNK_TASK, args=(campaign_id, member), task_id=token, queue=BULK_QUEUE)

    def tick(self, campaign_id: str, tick: str, countdown_seconds: float) -> None:
        """Queue the campaign's timer tick ``countdown_seconds`` from now."""
        self._app.send_task(
            TICK_TASK,
            args=(campaign_id, tick),
            countdown=countdown_seconds,
            queue=BULK_QUEUE,
            **_NO_RESULT,
        )
