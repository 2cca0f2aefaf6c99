"""Prometheus metrics read from Redis at scrape time: the cluster as all workers share it.

:class:`CourierCollector` reads Redis when scraped, so any process (the HTTP front's
``/metrics``) shows what all workers on all hosts share:

* ``courier_limit_budget_per_second{category,region}`` - the configured (or run-time)
  budget of each Region configured or seen (``region=""``: none known yet, the budget
  every Region gets)
* ``courier_limit_rate_per_second{category,region}`` - the adaptive rate in force now
* ``courier_limit_bulk_rate_per_second{category,region}`` - what campaigns may take of it
* ``courier_limit_throttles_total{category,region}`` - throttle bursts reported by workers
* ``courier_limit_quota_below_budget{category,region}`` - 1 while the quota observed at
  repeated throttles is below the budget (the budget is more than Cognito gives), else 0
* ``courier_jobs_redelivered_total`` - jobs sent again after a worker stopped mid-call
* ``courier_jobs_coalesced_total`` - submissions answered with an identical job already
  queued, running or retrying (:mod:`worker.dedupe`)
* ``courier_dead_lettered_total{reason}`` - queue items and messages set aside in
  ``courier:deadletter`` instead of run (undecodable, not a message, unknown task, no
  status document; :mod:`worker.broker.deadletter`), every reason from 0
* ``courier_queue_length{queue}`` - messages waiting in a broker queue (``interactive``,
  ``bulk``; kombu's priority sub-queues included)
* ``courier_oldest_queued_job_age_seconds`` - how long the oldest job still waiting in the
  ``interactive`` queue has been there (from its status document's ``created_at``; 0 when
  the queue is empty)
* ``courier_campaigns{state}`` - campaigns kept in Redis, by state (``paused`` ones need
  an operator or wait for the account's daily limit)
* ``courier_campaign_rows{state}`` - their rows, by row state, summed over campaigns
* ``courier_backlog`` - work still to do: interactive messages waiting plus the open rows
  (queued, running, deferred) of campaigns that are ingesting or running

Each worker's own counters (deliveries, attempts, permit waits) are
:mod:`worker.observe.worker_metrics`, served by the worker itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import cast

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.broker.deadletter import REASONS, DeadLetters
from worker.campaign.model import COUNTED_STATES, OPEN_STATES
from worker.campaign.store import CampaignStore, list_campaign_ids
from worker.dedupe import COALESCED_KEY
from worker.errors import CampaignNotFoundError
from worker.ratelimit import Category
from worker.runtime import Runtime
from worker.status import REDELIVERED_KEY, job_key

__all__ = ["QUEUES", "CourierCollector", "oldest_queued_job_age_seconds", "queue_length"]

QUEUES = ("interactive", "bulk")
CAMPAIGN_STATES = ("ingesting", "running", "paused", "cancelled", "done")
# kombu's Redis transport keeps priorities 3, 6 and 9 in sub-queues named queue + sep + n.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


class CourierCollector(Collector):
    """Collects the shared limiter state and job counters from Redis on each scrape."""

    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Yield one family per figure, labelled by quota category."""
        runtime = self._runtime()
        labels = ["category", "region"]
        budget = GaugeMetricFamily(
            "courier_limit_budget_per_second", "Budget in calls/s.", labels=labels
        )
        rate = GaugeMetricFamily(
            "courier_limit_rate_per_second", "Adaptive rate in force, calls/s.", labels=labels
        )
        bulk = GaugeMetricFamily(
            "courier_limit_bulk_rate_per_second", "Rate campaigns may take, calls/s.", labels=labels
        )
        throttles = CounterMetricFamily(
            "courier_limit_throttles", "Throttle bursts reported.", labels=labels
        )
        below = GaugeMetricFamily(
            "courier_limit_quota_below_budget",
            "1 while the quota observed at repeated throttles is below the budget.",
            labels=labels,
        )
        # every Region configured or seen; none yet: the budget for every Region, region=""
        regions = runtime.limiters.known(runtime.clients.configured_regions())
        limiters = [runtime.limiters.for_region(r) for r in regions] or [
            runtime.limiters.every_region
        ]
        for limiter in limiters:
            for category in Category:
                state = limiter.state(category)
                label = [category.value, state.region or ""]
                budget.add_metric(label, state.budget_per_second)
                rate.add_metric(label, state.rate_per_second)
                bulk.add_metric(label, state.bulk_rate_per_second)
                throttles.add_metric(label, state.throttles)
                below.add_metric(label, float(state.quota_below_budget))
        redelivered = CounterMetricFamily(
            "courier_jobs_redelivered", "Jobs sent again after a worker stopped mid-call."
        )
        redelivered.add_metric([], float(runtime.redis.get(REDELIVERED_KEY) or 0))
        coalesced = CounterMetricFamily(
            "courier_jobs_coalesced",
            "Submissions answered with an identical job in flight (or just succeeded).",
        )
        coalesced.add_metric([], float(runtime.redis.get(COALESCED_KEY) or 0))
        dead = CounterMetricFamily(
            "courier_dead_lettered",
            "Queue items set aside in courier:deadletter instead of run, by reason.",
            labels=["reason"],
        )
        counts = DeadLetters(runtime.redis).counts()
        for reason in sorted({*REASONS, *counts} - {"total"}):  # every reason, 0 until seen
            dead.add_metric([reason], float(counts.get(reason, 0)))
        yield from (budget, rate, bulk, throttles, below, redelivered, coalesced, dead)
        yield from self._queues(runtime)
        yield from self._campaigns(runtime)

    def _queues(self, runtime: Runtime) -> Iterator[GaugeMetricFamily]:
        lengths = GaugeMetricFamily(
            "courier_queue_length", "Messages waiting in a broker queue.", labels=["queue"]
        )
        for queue in QUEUES:
            lengths.add_metric([queue], queue_length(runtime.redis, queue))
        oldest = GaugeMetricFamily(
            "courier_oldest_queued_job_age_seconds",
            "Age of the oldest job waiting in the interactive queue, seconds (0: none).",
        )
        oldest.add_metric([], oldest_queued_job_age_seconds(runtime.redis))
        yield from (lengths, oldest)

    def _campaigns(self, runtime: Runtime) -> Iterator[GaugeMetricFamily]:
        by_state = dict.fromkeys(CAMPAIGN_STATES, 0)
        rows = dict.fromkeys(COUNTED_STATES, 0)
        backlog = queue_length(runtime.redis, "interactive")
        ttl = runtime.settings.campaign_ttl_seconds
        for campaign_id in list_campaign_ids(runtime.redis, ttl_seconds=ttl):
            try:
                status = CampaignStore(runtime.redis, campaign_id).status()
            except CampaignNotFoundError:
                continue  # expired between the listing and the read
            by_state[status["state"]] = by_state.get(status["state"], 0) + 1
            for state, count in status["counts"].items():
                rows[state] = rows.get(state, 0) + count
            if status["state"] in ("ingesting", "running"):
                backlog += sum(status["counts"].get(state, 0) for state in OPEN_STATES)
        campaigns = GaugeMetricFamily(
            "courier_campaigns", "Campaigns kept in Redis, by state.", labels=["state"]
        )
        for state, count in by_state.items():
            campaigns.add_metric([state], count)
        row_states = GaugeMetricFamily(
            "courier_campaign_rows", "Campaign rows by row state, all campaigns.", labels=["state"]
        )
        for state, count in rows.items():
            row_states.add_metric([state], count)
        work = GaugeMetricFamily(
            "courier_backlog",
            "Interactive messages waiting plus open rows of ingesting or running campaigns.",
        )
        work.add_metric([], backlog)
        yield from (campaigns, row_states, work)


def queue_length(client: redis.Redis, queue: str) -> int:
    """Messages waiting in ``queue`` (its priority sub-queues included)."""
    pipe = client.pipeline(transaction=False)
    pipe.llen(queue)
    for step in _PRIORITY_STEPS:
        pipe.llen(f"{queue}{_PRIORITY_SEP}{step}")
    return sum(int(n) for n in pipe.execute())


def oldest_queued_job_age_seconds(client: redis.Redis, *, now: float | None = None) -> float:
    """Seconds since the oldest job in the ``interactive`` queue was submitted; 0 when none.

    kombu pushes on the left and consumers pop on the right, so the oldest message is the
    last element; its task id is the job id (the producer's contract), whose status
    document holds ``created_at``. A message that is not a job's (garbage, a foreign
    task) counts as 0: the dead-letter path reports those.
    """
    raw = cast("bytes | None", client.lindex("interactive", -1))
    if raw is None:
        return 0.0
    try:
        job_id = json.loads(raw)["headers"]["id"]
        created = cast("bytes | None", client.hget(job_key(str(job_id)), "created_at"))
    except (ValueError, KeyError, TypeError):
        return 0.0
    if created is None:
        return 0.0
    try:
        submitted = datetime.fromisoformat(created.decode().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - submitted)
