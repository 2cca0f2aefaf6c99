"""The Celery app, importable as ``worker.app:app``.

``celery -A worker.app worker`` and ``celery -A worker.app flower`` both work; ``courier
worker`` runs a worker with the project's defaults. Each setting below says why it is so.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_shutting_down
from kombu import Exchange, Queue

from worker.liveness.heartbeat import SHUTTING_DOWN
from worker.liveness.watchdog import Watchdog
from worker.observe.logs import connect_worker_signals
from worker.observe.worker_metrics import MetricsServer
from worker.process import process_settings, use_settings
from worker.queues import BULK_QUEUE, INTERACTIVE_QUEUE
from worker.runtime import reset_runtime
from worker.settings import Settings

__all__ = ["BULK_QUEUE", "INTERACTIVE_QUEUE", "app", "configure"]


def _config(settings: Settings) -> dict[str, Any]:
    transport: dict[str, Any] = {
        # One visibility timeout for broker and results, above the longest a task can run
        # (checked by Settings), so a slow job is never handed to a second worker.
        "visibility_timeout": settings.visibility_timeout_seconds,
        # Poll queues in the order listed: interactive is always served before bulk.
        "queue_order_strategy": "priority",
    }
    # rediss:// and sentinels://: the broker and the result backend get the URL's TLS
    # options (Celery's backend refuses a rediss:// URL without ssl_cert_reqs); see
    # worker.broker.tls. They also keep TLS on with the broker transport named by class.
    target = settings.redis_target
    tls = target.tls
    transport_name = "Transport"
    if target.sentinel is not None:
        # kombu's Sentinel transport (and Celery's Sentinel result backend) read one
        # sentinel://host:port/db per sentinel, the service as master_name, and the
        # sentinels' own password and TLS as sentinel_kwargs (worker.broker.urls).
        transport["master_name"] = target.sentinel.service_name
        transport["sentinel_kwargs"] = target.sentinel_kwargs()
        transport_name = "SentinelTransport"
    return {
        "broker_url": target.kombu_url(),
        # kombu's Redis (or Sentinel) transport, with queue items that are no message
        # dead-lettered rather than fatal and failovers read as outages
        # (worker.broker.transport).
        "broker_transport": f"worker.broker.transport:{transport_name}",
        "result_backend": target.kombu_url(),
        "broker_use_ssl": tls,
        "redis_backend_use_ssl": tls,
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
        # (worker.broker.consumer), logging one line on loss and one on return.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        "worker_consumer": "worker.broker.consumer:CourierConsumer",
        # Running jobs go on through an outage. True cancels them, and the threads pool
        # cannot cancel (NotImplementedError "does not implement kill_job": the worker
        # exits). Their acks wait for Redis; a job whose ack is lost is redelivered after
        # the visibility timeout and recognised as a duplicate by its status document.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Hard stop well past the longest legitimate run, below the visibility timeout.
        "task_time_limit": settings.visibility_timeout_seconds - 5,
        "worker_hijack_root_logger": False,
    }


app = Celery("cognito_courier", include=["tasks.jobs", "tasks.campaigns"])


def configure(settings: Settings) -> None:
    """Apply ``settings`` to the app and make them the process's (:mod:`worker.process`).

    Done once at import, with the settings the process's entry point read (else read
    from the environment then); the demo and tests may call it again.
    """
    app.conf.update(_config(settings))
    use_settings(settings)


configure(process_settings())
# Every worker runs the watchdog: it reaps work whose holder stopped heartbeating and pumps
# live campaigns, so nothing waits for a dead worker's messages (the visibility timeout).
app.steps["worker"].add(Watchdog)
# Each worker serves its own metrics on COURIER_METRICS_PORT (worker.observe.worker_metrics).
app.steps["worker"].add(MetricsServer)
# Worker log lines in COURIER_LOG_FORMAT, with the job and campaign ids of the task at hand.
connect_worker_signals()


@worker_process_init.connect
def _fresh_runtime_after_fork(**_: Any) -> None:
    # Clients made before a fork (sockets, boto3 sessions) must not be shared with a child.
    reset_runtime()


@worker_init.connect
def _record_threads(sender: Any = None, **_: Any) -> None:
    # The real thread count (-c wins over the settings) sizes boto3's connection pools.
    # Sent before any bootstep or task builds this process's runtime.
    from worker.runtime import set_worker_threads  # noqa: PLC0415

    concurrency = getattr(sender, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:
        set_worker_threads(concurrency)


@worker_shutting_down.connect
def _hand_back_long_work(**_: Any) -> None:
    # SIGTERM: chunk tasks stop at their next batch and requeue the rest, so the worker
    # exits within seconds and another one goes on (nothing is lost, nothing repeats).
    SHUTTING_DOWN.set()
