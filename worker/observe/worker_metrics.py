"""A worker's own Prometheus metrics: what this process sent, waited for and decided.

A ``courier worker`` runs its jobs in threads of one process, so one plain
``prometheus_client`` registry (:data:`REGISTRY`) counts them all; each worker serves it
on ``COURIER_METRICS_PORT`` (:class:`MetricsServer`, off when unset), and Prometheus
sums the workers. Campaign rows and single jobs alike go through
:func:`worker.delivery.deliver`, which records:

* ``courier_deliveries_total{operation,outcome,error_code}`` - requests run to an
  outcome (``succeeded``, ``failed``, ``skipped``); ``error_code`` is Cognito's code or a
  project code (``CourierUserCapReached``, ``CourierPermitTimeout``), empty on success;
* ``courier_attempts_total{operation,result}`` - calls that left for Cognito, by
  ``result``: ``succeeded`` or the error code Cognito (or the network) answered;
* ``courier_throttles_total{operation}`` - TooManyRequestsException answers (each
  slows every worker down through the shared limiter);
* ``courier_permit_wait_seconds{priority}`` - histogram of the time a call waited for
  the global limiter's permit (``interactive`` or ``bulk``).

:class:`MetricsServer` sets ``courier_worker_threads`` (the worker's thread count) when
it starts serving: a worker that answers scrapes has it, so ``absent()`` of it means no
worker is alive. It also starts every counter at 0 for each label value known in advance
(:func:`initialise_known_labels`: both operations, every error code botocore's
cognito-idp model lists for each, both priorities), so ``rate()`` and ``increase()`` see
the first failure after a restart instead of a series that appears already at 1.

:mod:`tasks.jobs` records ``courier_job_duration_seconds{operation,outcome}``: a single
job's time from submission (its status document's ``created_at``) to its terminal state.

The cluster-wide view read from Redis (limiter state, queue depths, campaigns) is
:mod:`worker.observe.cluster_metrics`, served by the HTTP front.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import botocore.session
from celery import bootsteps
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from worker.errors import ConfigurationError
from worker.ratelimit.base import Priority

__all__ = [
    "OPERATIONS",
    "REGISTRY",
    "MetricsServer",
    "initialise_known_labels",
    "operation_error_codes",
    "record_attempt",
    "record_delivery",
    "record_job_duration",
    "record_permit_wait",
    "record_throttle",
]

log = logging.getLogger(__name__)

OPERATIONS = ("ResendConfirmationCode", "GetUserAttributeVerificationCode")
"""The two Cognito operations the workers call (DESIGN.md)."""

REGISTRY = CollectorRegistry(auto_describe=True)
"""This process's delivery metrics (a worker serves it on COURIER_METRICS_PORT)."""

_DELIVERIES = Counter(
    "courier_deliveries",
    "Requests run to an outcome, by operation, outcome and error code.",
    ("operation", "outcome", "error_code"),
    registry=REGISTRY,
)
_ATTEMPTS = Counter(
    "courier_attempts",
    "Calls that left for Cognito, by operation and result (succeeded or the error code).",
    ("operation", "result"),
    registry=REGISTRY,
)
_THROTTLES = Counter(
    "courier_throttles",
    "TooManyRequestsException answers from Cognito.",
    ("operation",),
    registry=REGISTRY,
)
_PERMIT_WAIT = Histogram(
    "courier_permit_wait_seconds",
    "Time a call waited for the global rate limiter's permit, seconds.",
    ("priority",),
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
_JOB_DURATION = Histogram(
    "courier_job_duration_seconds",
    "A single job's time from submission to its terminal state, seconds.",
    ("operation", "outcome"),
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
_THREADS = Gauge(
    "courier_worker_threads",
    "Threads of this worker (set while it serves metrics).",
    registry=REGISTRY,
)


def record_delivery(operation: str, outcome: str, error_code: str | None) -> None:
    """Count one request that reached ``outcome``."""
    _DELIVERIES.labels(operation, outcome, error_code or "").inc()


def record_attempt(operation: str, result: str) -> None:
    """Count one call that left for Cognito and came back with ``result``."""
    _ATTEMPTS.labels(operation, result).inc()


def record_throttle(operation: str) -> None:
    """Count one TooManyRequestsException answer."""
    _THROTTLES.labels(operation).inc()


def record_permit_wait(priority: str, seconds: float) -> None:
    """Observe one wait for a permit of the global limiter."""
    _PERMIT_WAIT.labels(priority).observe(max(0.0, seconds))


def record_job_duration(operation: str, outcome: str, created_at: str, finished: datetime) -> None:
    """Observe a job's time from ``created_at`` (ISO 8601, as in its status document)."""
    try:
        started = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        log.warning("job created_at %r is not ISO 8601; duration not recorded", created_at)
        return
    _JOB_DURATION.labels(operation, outcome).observe(max(0.0, (finished - started).total_seconds()))


def operation_error_codes(operation: str) -> tuple[str, ...]:
    """The error codes Cognito may answer ``operation`` with: the error shapes of botocore's
    cognito-idp 2016-04-18 model (``operation`` one of :data:`OPERATIONS`)."""
    model = botocore.session.get_session().get_service_model("cognito-idp")
    return tuple(shape.name for shape in model.operation_model(operation).error_shapes)


def initialise_known_labels() -> None:
    """Create every counter series whose label values are known in advance, at 0.

    Deliveries and attempts for both operations succeeded or failed with each of the
    operation's error codes (botocore's model), skipped by the per-user cap
    (``CourierUserCapReached``); throttles for both operations; permit waits for both
    priorities. Project codes for faults without a Cognito answer (``CourierTimeout``,
    ``CourierPermitTimeout``, ...) appear when they first happen.
    """
    for operation in OPERATIONS:
        _THROTTLES.labels(operation)
        _DELIVERIES.labels(operation, "succeeded", "")
        _DELIVERIES.labels(operation, "skipped", "CourierUserCapReached")
        _ATTEMPTS.labels(operation, "succeeded")
        for code in operation_error_codes(operation):
            _DELIVERIES.labels(operation, "failed", code)
            _ATTEMPTS.labels(operation, code)
    for priority in Priority:
        _PERMIT_WAIT.labels(priority.value)


class MetricsServer(bootsteps.StartStopStep):
    """Worker bootstep: serve :data:`REGISTRY` on COURIER_METRICS_PORT while the worker runs.

    Raises (at worker start):
        ConfigurationError: the port cannot be bound (in use, or not allowed).
    """

    label = "metrics"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._server: Any = None

    def start(self, parent: Any) -> None:
        """Bind the port and serve from a daemon thread."""
        from worker.process import process_settings  # noqa: PLC0415 - the worker's settings

        settings = process_settings()
        port, address = settings.metrics_port, settings.metrics_address
        if port is None:
            return
        try:
            self._server, _ = start_http_server(port, addr=address, registry=REGISTRY)
        except OSError as exc:
            raise ConfigurationError(
                f"COURIER_METRICS_PORT / COURIER_METRICS_ADDRESS: cannot serve metrics on "
                f"{address} port {port}: {exc.strerror or exc}"
            ) from None
        initialise_known_labels()
        _THREADS.set(getattr(parent, "concurrency", 0) or 0)
        log.info("metrics served on %s port %d at /metrics", address, port)

    def stop(self, parent: Any) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
