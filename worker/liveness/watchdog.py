"""Every worker's watchdog: pumps live campaigns and reaps work whose holder stopped beating.

A worker bootstep (added by :mod:`worker.app`) running one daemon thread. Every
COURIER_CAMPAIGN_WATCHDOG_SECONDS (2 s) it

* sends again the interactive jobs whose worker stopped heartbeating
  (:func:`worker.liveness.reaper.reap_jobs`), and
* pumps every running campaign (:func:`worker.campaign.pump.pump_live_campaigns`),
  which re-leases the members whose holder stopped heartbeating.

So work held by a killed worker moves on within ``COURIER_LEASE_SECONDS`` + one period.
When Redis goes away the watchdog logs one line, waits, and logs one line when Redis is
back; it then leaves expired leases alone for two heartbeats, so live holders renew
theirs (their deadlines ran on in Redis's clock during the outage) before anything is
taken from them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery import bootsteps

from worker.broker.clients import probe_write
from worker.campaign.dispatch import CeleryDispatcher
from worker.campaign.pump import pump_live_campaigns
from worker.liveness.reaper import reap_jobs
from worker.runtime import Runtime, get_runtime

__all__ = ["Watchdog"]

log = logging.getLogger(__name__)


class Watchdog(bootsteps.StartStopStep):
    """Worker bootstep: the watchdog thread (see the module docstring)."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._redis_down = False
        self._reap_after = 0.0

    def start(self, worker: Any) -> None:
        """Start the thread."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(worker.app,), name="courier-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self, worker: Any) -> None:
        """Stop the thread (at worker shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, app: Any) -> None:
        runtime = get_runtime()
        settings = runtime.settings
        period = settings.campaign_watchdog_seconds
        dispatcher = CeleryDispatcher(app)
        while not self._stop.wait(period):
            self.tick(runtime, app, dispatcher)

    def tick(self, runtime: Runtime, app: Any, dispatcher: CeleryDispatcher) -> None:
        """One period: :meth:`round`, its failures logged (a Redis outage once), never raised."""
        try:
            self.round(runtime, app, dispatcher)
        except redis.RedisError as exc:
            if not self._redis_down:
                self._redis_down = True
                log.warning("watchdog: Redis is unreachable (%s); waiting for it", exc)
        except Exception:  # the next period tries again; a worker must not die of it
            log.exception("watchdog: a round failed")

    def round(self, runtime: Runtime, app: Any, dispatcher: CeleryDispatcher) -> None:
        """One period's work: reap jobs, pump campaigns (Redis errors propagate)."""
        settings = runtime.settings
        probe_write(runtime.redis)  # a replica or a full Redis answers PING, not a write
        if self._redis_down:
            self._redis_down = False
            self._reap_after = time.monotonic() + 2 * settings.heartbeat_seconds
            log.warning("watchdog: Redis answers again and accepts writes; going on")
        reap = time.monotonic() >= self._reap_after
        if reap:
            reap_jobs(runtime.statuses, app)
        pump_live_campaigns(
            runtime.redis,
            dispatcher,
            period_seconds=settings.campaign_watchdog_seconds,
            ttl_seconds=settings.campaign_ttl_seconds,
            reap=reap,
        )
