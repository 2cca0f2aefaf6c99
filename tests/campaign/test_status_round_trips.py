"""``campaign_status`` reads the whole document, its fair share included, in one round trip.

The share (what the limiter gives the campaign now, in whichever Region it takes permits)
used to be read apart from the document's MULTI (SMEMBERS, SCRIPT EXISTS, the SHARES
scripts), which pushed the document's p99 past 50 ms in CI; now it rides in the same MULTI.
Counted with :func:`tests.support.roundtrips.counting_round_trips` on a real Redis.
"""

from __future__ import annotations

from typing import Any

from tasks.campaigns import campaign_status
from tests.support.campaigns import FIELDS, SIZE
from tests.support.roundtrips import counting_round_trips
from worker.campaign.store import CampaignStore
from worker.contrib.redisserver import PrivateRedis
from worker.ratelimit import CampaignShare, Category, Priority
from worker.runtime import Runtime, set_runtime

URR = Category.USER_RESOURCE_READ


def _running_campaign(runtime: Runtime, campaign_id: str) -> CampaignStore:
    store = CampaignStore(runtime.redis, campaign_id)
    expire_at = int(store.create(ttl_seconds=3600, fields={**FIELDS, "name": campaign_id}))
    store.append_rows(
        [f"u{n}" for n in range(10)], first_row=0, chunk_size=SIZE, expire_at=expire_at
    )
    store.finish_ingest(rejected=0, duplicates=0)
    return store


def test_status_is_one_round_trip_with_the_share(runtime: Runtime) -> None:
    store = _running_campaign(runtime, "rt0")
    other = _running_campaign(runtime, "rt1")
    limiter = runtime.limiters.for_region("eu-west-1")
    for campaign in (store.id, other.id):  # two campaigns share the bulk rate in one Region
        limiter.acquire(
            URR, priority=Priority.BULK, timeout_seconds=5.0, campaign=CampaignShare(campaign)
        )
    expected = runtime.limiters.campaign_share(URR, store.id)
    assert expected is not None
    first = campaign_status(store.id)  # this process meets the Region: one more trip, once
    with counting_round_trips() as trips:
        document = campaign_status(store.id)
    assert trips == ["MULTI"], trips
    assert document["state"] == first["state"] == "running"
    assert document["share"]["fraction"] == first["share"]["fraction"] == expected[1] == 0.5
    assert document["share"]["rate_per_second"] == expected[0]


def test_a_campaign_taking_no_permits_has_no_share(runtime: Runtime) -> None:
    store = _running_campaign(runtime, "rt2")
    campaign_status(store.id)
    with counting_round_trips() as trips:
        document = campaign_status(store.id)
    assert trips == ["MULTI"], trips
    assert document["share"] == {"fraction": None, "rate_per_second": None}


def test_a_redis_without_the_scripts_is_read_again(runtime: Runtime, make_settings: Any) -> None:
    # a Redis of this test's own: the share script is not loaded there at first (a fresh or
    # restarted Redis), and then its scripts are flushed; the document comes either way
    with PrivateRedis() as server:
        own = Runtime.from_settings(make_settings(redis_url=server.url))
        set_runtime(own)
        try:
            store = _running_campaign(own, "rt3")
            limiter = own.limiters.for_region("eu-west-1")
            limiter.acquire(
                URR, priority=Priority.BULK, timeout_seconds=5.0, campaign=CampaignShare(store.id)
            )
            assert campaign_status(store.id)["share"]["fraction"] == 1.0  # NOSCRIPT, loaded
            own.redis.script_flush()
            with counting_round_trips() as trips:
                assert campaign_status(store.id)["share"]["fraction"] == 1.0
            assert trips.count("MULTI") == 2, trips  # refused, scripts loaded, read again
        finally:
            set_runtime(runtime)
