"""Pump every live campaign: what every worker's watchdog does for campaigns each period.

There is no timer message: a countdown message is reserved by one worker at once and dies
with it. Instead each worker's watchdog (:mod:`worker.liveness.watchdog`) calls
:func:`pump_live_campaigns` every COURIER_CAMPAIGN_WATCHDOG_SECONDS: each running campaign
is pumped (re-leasing members whose holder stopped beating, releasing due deferred rows,
filling the window, noticing the end). A short Redis lock lets one worker at a time do it
per campaign; the pump's Lua scripts are atomic, so overlap would be harmless anyway.
"""

from __future__ import annotations

import logging

import redis

from worker.campaign import engine
from worker.campaign.engine import Dispatcher
from worker.campaign.store import CampaignStore, list_campaign_ids
from worker.observe.logs import log_context

__all__ = ["pump_live_campaigns"]

log = logging.getLogger(__name__)

_PUMPED_STATES = frozenset({b"active", b"cancelled"})  # control states (meta ``state``)


def pump_live_campaigns(
    client: redis.Redis,
    dispatcher: Dispatcher,
    *,
    period_seconds: float,
    ttl_seconds: int,
    reap: bool = True,
) -> int:
    """Pump every running campaign not pumped by another worker this period; returns count.

    ``ttl_seconds`` is COURIER_CAMPAIGN_TTL_SECONDS (older campaigns are pruned from the
    index); ``reap`` False leaves expired leases alone this time (see
    :func:`worker.campaign.engine.pump`). One broken campaign does not stop the others.

    Raises:
        redis.RedisError: Redis failed (the next period tries again).
    """
    pumped = 0
    for campaign_id in list_campaign_ids(client, ttl_seconds=ttl_seconds):
        store = CampaignStore(client, campaign_id)
        state, finished_at = client.hmget(store.keys.meta, ["state", "finished_at"])
        if state not in _PUMPED_STATES or finished_at is not None:
            continue  # gone, paused (resume pumps it) or finished
        lock = store.keys.prefix + "watchdog"
        if not client.set(lock, 1, nx=True, px=max(1, int(period_seconds * 900))):
            continue  # another worker pumped it within this period
        try:
            with log_context(campaign_id=campaign_id):  # its lines name the campaign
                engine.pump(store, dispatcher, reap=reap)
        except redis.RedisError:
            raise  # Redis is gone for every campaign: the next period tries again
        except Exception:  # one broken campaign must not stall the others
            log.exception(
                "campaign watchdog: pumping campaign %s failed",
                campaign_id,
                extra={"campaign_id": campaign_id},
            )
            continue
        pumped += 1
    return pumped
