"""The campaign watchdog pumps every live campaign, even when one of them is broken.

Found the hard way: it once compared the control state (``active``) with the status
document's states (``running``) and never pumped anything.
"""

from __future__ import annotations

import time

import pytest

from tests.support.synthetic import CLIENT_ID
from worker.campaign import engine
from worker.campaign.ingest import CampaignOptions, create_campaign
from worker.campaign.model import PumpResult
from worker.campaign.pump import pump_live_campaigns
from worker.campaign.store import CampaignStore
from worker.runtime import Runtime


class _NoDispatch:
    """The pump is replaced in this test: nothing may be dispatched."""

    def member(self, campaign_id: str, member: str, token: str) -> None:
        raise AssertionError("unexpected dispatch")

    def ingest(self, campaign_id: str, generation: str) -> None:
        raise AssertionError("unexpected dispatch")


NO_DISPATCH = _NoDispatch()


def test_one_broken_campaign_does_not_stall_the_others(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = CampaignOptions(client_id=CLIENT_ID, source={"kind": "file"})
    ids = ["0badc0de0badc0de", "900d900d900d900d", "9a05ed009a05ed00", "f1f1f1f1f1f1f1f1"]
    for campaign_id in ids:
        create_campaign(runtime.redis, runtime.settings, campaign_id, options)
    CampaignStore(runtime.redis, ids[2]).set_state("paused", allowed_from={"active"})
    runtime.redis.hset(CampaignStore(runtime.redis, ids[3]).keys.meta, "finished_at", 1.0)
    pumped: list[str] = []

    def pump(store: CampaignStore, dispatcher: object, *, reap: bool = True) -> PumpResult:
        if store.id == ids[0]:
            raise RuntimeError("a campaign the pump chokes on")
        pumped.append(store.id)
        return PumpResult.OPEN

    monkeypatch.setattr(engine, "pump", pump)
    # A session worker's own watchdog (every 2 s, in this process) may take a campaign's
    # lock first and pump it through the same patched pump: ask until the good one is done.
    deadline = time.monotonic() + 10
    while ids[1] not in pumped:
        assert time.monotonic() < deadline, "the healthy campaign was never pumped"
        pump_live_campaigns(runtime.redis, NO_DISPATCH, period_seconds=0.05, ttl_seconds=3600)
        time.sleep(0.06)
    assert set(pumped) == {ids[1]}  # never the paused or the finished one
