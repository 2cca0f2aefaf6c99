"""The two broker queues (Redis list keys of kombu's Redis transport).

``interactive`` carries single jobs that someone waits for, ``bulk`` carries campaign
work; workers poll them in that order. Kept apart from :mod:`worker.app` so modules the
app imports (the campaign watchdog, the broker transport) can name them without a circle.
"""

from __future__ import annotations

__all__ = ["BULK_QUEUE", "INTERACTIVE_QUEUE", "QUEUES"]

INTERACTIVE_QUEUE = "interactive"
BULK_QUEUE = "bulk"
QUEUES = (INTERACTIVE_QUEUE, BULK_QUEUE)
