"""The Celery app, importable as ``worker.app:app``.

``celery -A worker.app worker`` and ``celery -A worker.app flower`` both work; ``courier
worker`` runs a worker with the project's defaults. Each setting below says why it is so.
"""

from __future__ import annotations

import ssl
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from kombu import Exchange, Queue

from worker.campaign.watchdog import CampaignWatchdog
from worker.queues import BULK_QUEUE, INTERACTIVE_QUEUE
from worker.settings import Settings, load_settings

__all__ = ["BULK_QUEUE", "INTERACTIVE_QUEUE", "app", "configure"]


def _config(settings: Settings) -> dict[str, Any]:
    transport = {
        # One visibility timeout for broker and results, above the longest a task can run
        # (checked by Settings), so a slow job is never handed to a second worker.
        "visibility_timeout": settings.visibility_timeout_seconds,
        # Poll queues in the order listed: interactive is always served before bulk.
        "queue_order_strategy": "priority",
    }
    config: dict[str, Any] = {
        "broker_url": settings.redis_url,
        # kombu's Redis transport, with queue items that are no message dead-lettered rather
        # than fatal (worker.transport); the URL stays COURIER_REDIS_URL's redis:// URL.
        "broker_transport": "worker.transport:Transport",
        "result_backend": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": dict(transport),
        # JSON only: no pickle from the broker, and messages stay readable (and scannable).
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Our own status store is the contract; Celery results would only duplicate it.
        "task_ignore_result": True,
        # Ack after the work, and requeue when a worker dies mid-task: nothing is lost.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message at a time per thread: a dead worker strands no prefetched backlog.
        "worker_prefetch_multiplier": 1,
        # Events on, sent events too, so Flower sees every job from the moment it is queued.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        # Each queue its own exchange and key, so bulk work can never land in interactive.
        "task_queues": (
            Queue(INTERACTIVE_QUEUE, Exchange(INTERACTIVE_QUEUE), routing_key=INTERACTIVE_QUEUE),
            Queue(BULK_QUEUE, Exchange(BULK_QUEUE), routing_key=BULK_QUEUE),
        ),
        "task_default_queue": INTERACTIVE_QUEUE,
        # Campaign work goes to bulk; every other job is a single, interactive request.
        "task_routes": {
            "courier.campaign*": {"queue": BULK_QUEUE},
            "courier.*": {"queue": INTERACTIVE_QUEUE},
        },
        # The work is I/O bound (HTTPS calls and Redis): threads, sized from the budget.
        "worker_pool": "threads",
        "worker_concurrency": settings.concurrency,
        # A Redis outage is a pause: retry the connection at start-up and after a loss,
        # forever (Celery gives up after 100 tries by default), at most every 2 s
        # (worker.consumer), logging one line on loss and one on return.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        "worker_consumer": "worker.consumer:CourierConsumer",
        # Running jobs go on through an outage. True cancels them, and the threads pool
        # cannot cancel (NotImplementedError "does not implement kill_job": the worker
        # exits). Their acks wait for Redis; a job whose ack is lost is redelivered after
        # the visibility timeout and recognised as a duplicate by its status document.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Hard stop well past the longest legitimate run, below the visibility timeout.
        "task_time_limit": settings.visibility_timeout_seconds - 5,
        "worker_hijack_root_logger": False,
    }
    if settings.redis_url.startswith("rediss://"):
        # kombu turns TLS on for the rediss scheme by name; a transport named by class
        # does not, so ask for it (verifying the server's certificate).
        config["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return config


app = Celery("cognito_courier", include=["tasks.jobs", "tasks.campaigns"])


def configure(settings: Settings) -> None:
    """Apply ``settings`` to the app (done once at import; tests may call it again)."""
    app.conf.update(_config(settings))


configure(load_settings())
# Every worker pumps live campaigns on its own timer, so a killed worker that held the
# campaign's timer message cannot stall it until the visibility timeout.
app.steps["worker"].add(CampaignWatchdog)


@worker_process_init.connect
def _fresh_runtime_after_fork(**_: Any) -> None:
    # Clients made before a fork (sockets, boto3 sessions) must not be shared with a child.
    from worker.runtime import reset_runtime  # noqa: PLC0415 - avoid an import cycle

    reset_runtime()
