"""Prometheus metrics read from Redis at scrape time: the limiter and the job path.

:class:`CourierCollector` asks the limiter for each category's state when scraped, so any
process (the HTTP front's ``/metrics``) shows what all workers on all hosts share:

* ``courier_limit_budget_per_second{category}`` - the configured (or run-time) budget
* ``courier_limit_rate_per_second{category}`` - the adaptive rate in force now
* ``courier_limit_bulk_rate_per_second{category}`` - what campaigns may take of it
* ``courier_limit_throttles_total{category}`` - throttle bursts reported by workers
* ``courier_jobs_redelivered_total`` - jobs sent again after a worker stopped mid-call
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.ratelimit import Category
from worker.runtime import Runtime

__all__ = ["CourierCollector"]


class CourierCollector(Collector):
    """Collects the shared limiter state and job counters from Redis on each scrape."""

    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield one family per figure, labelled by quota category."""
        from tasks.jobs import REDELIVERED_KEY  # noqa: PLC0415 - tasks imports the app

        runtime = self._runtime()
        budget = GaugeMetricFamily(
            "courier_limit_budget_per_second", "Budget in calls/s.", labels=["category"]
        )
        rate = GaugeMetricFamily(
            "courier_limit_rate_per_second", "Adaptive rate in force, calls/s.", labels=["category"]
        )
        bulk = GaugeMetricFamily(
            "courier_limit_bulk_rate_per_second",
            "Rate campaigns may take, calls/s.",
            labels=["category"],
        )
        throttles = CounterMetricFamily(
            "courier_limit_throttles", "Throttle bursts reported.", labels=["category"]
        )
        for category in Category:
            state = runtime.limiter.state(category)
            budget.add_metric([category.value], state.budget_per_second)
            rate.add_metric([category.value], state.rate_per_second)
            bulk.add_metric([category.value], state.bulk_rate_per_second)
            throttles.add_metric([category.value], state.throttles)
        redelivered = CounterMetricFamily(
            "courier_jobs_redelivered", "Jobs sent again after a worker stopped mid-call."
        )
        redelivered.add_metric([], float(runtime.redis.get(REDELIVERED_KEY) or 0))
        yield from (budget, rate, bulk, throttles, redelivered)
