"""Heartbeats keep a live holder's short lease; a stopped holder loses it; Redis outages wait.

Real Redis throughout: the session's server for leases, a private one for the restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

import pytest
import redis

from worker.campaign import engine
from worker.campaign.ingest import CampaignOptions, create_campaign
from worker.campaign.store import CampaignStore
from worker.contrib.redisserver import PrivateRedis
from worker.liveness.heartbeat import Heartbeat, Lease, patiently, wait_for_redis
from worker.runtime import Runtime


class _Recorder:
    """A dispatcher that only remembers what the pump sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def member(self, campaign_id: str, member: str, token: str) -> None:
        self.sent.append((member, token))

    def ingest(self, campaign_id: str, generation: str) -> None:
        self.sent.append(("ingest", generation))


def _campaign_with_one_chunk(runtime: Runtime, lease_seconds: float) -> CampaignStore:
    options = CampaignOptions(
        client_id="client0001", source={"kind": "file"}, lease_seconds=lease_seconds
    )
    store, expire_at = create_campaign(runtime.redis, runtime.settings, "11feb1ea7000001a", options)
    store.append_rows(["alice", "bob"], first_row=0, chunk_size=1000, expire_at=expire_at)
    store.finish_ingest(rejected=0, duplicates=0)
    return store


def _lease(store: CampaignStore, member: str, token: str, seconds: float) -> Lease:
    return Lease(f"{store.id} {member}", partial(store.renew, member, token, seconds))


def test_a_beating_holder_keeps_its_short_lease_and_a_silent_one_loses_it(
    runtime: Runtime,
) -> None:
    # A 2 s lease beaten every 0.2 s: ten beats to a lease, so a holder starved for a
    # second on a loaded machine still keeps it (a 1 s lease lost it once in a batch run).
    lease_seconds = 2.0
    store = _campaign_with_one_chunk(runtime, lease_seconds=lease_seconds)
    dispatcher = _Recorder()
    engine.pump(store, dispatcher)
    [(member, token)] = dispatcher.sent
    heartbeat = Heartbeat(runtime.redis, period_seconds=0.2)
    try:
        with heartbeat.holding(_lease(store, member, token, lease_seconds)) as held:
            time.sleep(5.0)  # two and a half leases: only the heartbeat keeps it
            engine.pump(store, dispatcher)
            assert dispatcher.sent == [(member, token)], "a live holder's work was taken"
            assert not held.lost
        # The holder stopped beating: its lease (2 s from its last beat) runs out, and the
        # pump hands the work on. Polled, not one fixed sleep: on a loaded machine the last
        # beat can land late (CI saw 1.3 s fall short once).
        deadline = time.monotonic() + 10
        while len(dispatcher.sent) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            engine.pump(store, dispatcher)
        assert len(dispatcher.sent) == 2
        new_member, new_token = dispatcher.sent[1]
        assert new_member == member
        assert new_token != token
        # the old holder came back (a zombie): it can renew nothing
        with heartbeat.holding(_lease(store, member, token, lease_seconds)) as zombie:
            assert heartbeat.beat() == 0
            assert zombie.lost
        assert runtime.redis.hget(store.keys.owners, member) == new_token.encode()
    finally:
        heartbeat.close()


def test_heartbeat_waits_out_a_redis_restart_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with PrivateRedis(appendonly=True) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        client.zadd("leases", {"m": 0})
        client.hset("owners", "m", "me")
        beats: list[int] = []

        def renew(client: redis.client.Pipeline) -> None:
            client.eval(
                "if redis.call('HGET', KEYS[2], 'm') ~= ARGV[1] then return 0 end "
                "redis.call('ZADD', KEYS[1], 'XX', redis.call('TIME')[1], 'm') return 1",
                2,
                "leases",
                "owners",
                "me",
            )
            beats.append(1)

        heartbeat = Heartbeat(client, period_seconds=0.2)
        caplog.set_level(logging.WARNING, logger="worker.liveness.heartbeat")
        try:
            with heartbeat.holding(Lease("test", renew)):
                time.sleep(0.5)
                server.stop(kill=True)
                time.sleep(2.0)
                server.start()
                restarted = time.time()
                deadline = time.monotonic() + 5
                while float(client.zscore("leases", "m") or 0) < int(restarted):
                    assert time.monotonic() < deadline, "no renewal after Redis came back"
                    time.sleep(0.05)
        finally:
            heartbeat.close()
            client.close()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis is unreachable" in m for m in messages) == 1, messages
    assert sum("Redis answers again" in m for m in messages) == 1, messages


def test_patiently_goes_on_when_redis_is_back_within_the_bound() -> None:
    with PrivateRedis(appendonly=True) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        client.set("k", "v")
        server.stop()
        restart = threading.Timer(1.5, server.start)
        restart.start()
        try:
            started = time.monotonic()
            value = patiently(client, lambda: client.get("k"), within_seconds=20, what="test")
            waited = time.monotonic() - started
        finally:
            restart.join()
            client.close()
    assert value == b"v"  # the AOF kept it
    assert 1.0 <= waited < 6.0


def test_patiently_gives_up_after_the_bound() -> None:
    with PrivateRedis() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        server.stop()
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            patiently(client, lambda: client.get("k"), within_seconds=1.5, what="test")
        assert 1.0 <= time.monotonic() - started < 5.0
        assert not wait_for_redis(client, timeout_seconds=0.3)
        client.close()


def test_a_renewal_that_meets_its_own_finish_is_no_lost_lease(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # The heartbeat reads what it holds, then renews; a job finishing in between has
    # released its lease already (seen in benchmarks.job_path: "lease ... was taken by
    # another holder" WARNINGs with one worker, nothing taken). Only a real takeover warns.
    caplog.set_level(logging.WARNING, logger="worker.liveness.heartbeat")
    statuses = runtime.statuses
    heartbeat = Heartbeat(runtime.redis, period_seconds=60)  # beats only when told
    for job_id in ("renew-finished", "renew-taken"):
        statuses.create(job_id, "ResendConfirmationCode")
    statuses.start("renew-finished", holder="h1", lease_seconds=15)
    statuses.start("renew-taken", holder="h1", lease_seconds=15)
    finished = statuses.lease("renew-finished", "h1", 15)
    taken = statuses.lease("renew-taken", "h1", 15)
    with heartbeat.holding(finished) as done, heartbeat.holding(taken) as stolen:
        assert heartbeat.beat() == 2
        assert statuses.transition("renew-finished", "succeeded")
        # another holder took the second job over (as the reaper and a redelivery do)
        runtime.redis.hset("courier:job:renew-taken", "holder", "h2")
        assert heartbeat.beat() == 0
        assert not done.lost
        assert stolen.lost
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["heartbeat: lease Lease(job renew-taken) was taken by another holder"]
