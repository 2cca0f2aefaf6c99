"""The campaign watchdog: every worker pumps live campaigns on a timer of its own.

The timer tick of :mod:`worker.campaign.engine` is a countdown message, and a worker that
dies holding it (Celery reserves countdown messages at once) keeps it until the visibility
timeout brings it back, 15 minutes by default. If that worker also held every leased
member, nothing would pump the campaign meanwhile. So each worker process also runs this
bootstep: a daemon thread that, every COURIER_CAMPAIGN_WATCHDOG_SECONDS, pumps each
running campaign (re-leasing members whose lease ran out, releasing due deferred rows,
filling the window, noticing the end). A short Redis lock lets one worker at a time do
it per campaign; the pump's Lua scripts are atomic, so overlap would be harmless anyway.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import bootsteps

from worker.broker import CONNECTION_ERRORS
from worker.campaign import engine
from worker.campaign.dispatch import CeleryDispatcher
from worker.campaign.engine import Dispatcher

__all__ = ["CampaignWatchdog", "pump_live_campaigns"]

log = logging.getLogger(__name__)

_PUMPED_STATES = frozenset({b"active", b"cancelled"})  # control states (meta ``state``)


def pump_live_campaigns(period_seconds: float, dispatcher: Dispatcher) -> int:
    """Pump every running campaign not pumped by another worker this period; returns count.

    ``dispatcher`` sends the members and ticks the pumps ask for (a worker's watchdog
    uses :class:`~worker.campaign.dispatch.CeleryDispatcher` on its own app).
    """
    from worker.campaign.store import CampaignStore, list_campaign_ids  # noqa: PLC0415
    from worker.runtime import get_runtime  # noqa: PLC0415

    runtime = get_runtime()
    client = runtime.redis
    pumped = 0
    ttl = runtime.settings.campaign_ttl_seconds
    for campaign_id in list_campaign_ids(client, ttl_seconds=ttl):
        store = CampaignStore(client, campaign_id)
        state, finished_at = client.hmget(store.keys.meta, ["state", "finished_at"])
        if state not in _PUMPED_STATES or finished_at is not None:
            continue  # gone, paused (resume pumps it) or finished
        lock = store.keys.prefix + "watchdog"
        if not client.set(lock, 1, nx=True, px=max(1, int(period_seconds * 900))):
            continue  # another worker pumped it within this period
        try:
            engine.pump(store, dispatcher)
        except redis.RedisError:
            raise  # Redis is gone for every campaign: the next period tries again
        except Exception:  # one broken campaign must not stall the others
            log.exception("campaign watchdog: pumping campaign %s failed", campaign_id)
            continue
        pumped += 1
    return pumped


class CampaignWatchdog(bootsteps.StartStopStep):
    """Worker bootstep running :func:`pump_live_campaigns` in a daemon thread."""

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        """Start the timer thread."""
        from worker.runtime import get_runtime  # noqa: PLC0415

        period = get_runtime().settings.campaign_watchdog_seconds
        self._stop.clear()
        dispatcher = CeleryDispatcher(worker.app)
        self._thread = threading.Thread(
            target=self._run,
            args=(period, dispatcher),
            name="courier-campaign-watchdog",
            daemon=True,
        )
        self._thread.start()

    def stop(self, worker: Any) -> None:
        """Stop the timer thread (at worker shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, period_seconds: float, dispatcher: Dispatcher) -> None:
        while not self._stop.wait(period_seconds):
            try:
                pump_live_campaigns(period_seconds, dispatcher)
            except CONNECTION_ERRORS as exc:  # the consumer logs the outage, once
                log.debug("campaign watchdog: Redis unreachable (%s); next period", exc)
            except Exception:  # the next period tries again; a worker must not die of it
                log.exception("campaign watchdog: pumping failed")
