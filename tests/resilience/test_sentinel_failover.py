"""A Sentinel failover mid-campaign after the primary is SIGKILLed: workers follow it.

Three real sentinels (``redis-server --sentinel``, down-after-milliseconds 1000) watch a
primary and one replica (worker/contrib/redissentinel.py). Two ``courier worker``
processes use ``COURIER_REDIS_URL=sentinel://.../courier/0`` and send a campaign of 1,600
users at 40 calls/s; once 400 are served, with two interactive calls in flight, the
primary is SIGKILLed, and a producer submits more jobs meanwhile. Targets (issue 18): 0
worker exits, calls resume within 10 s of the kill, every user called at least once,
repeats no more than what was in flight, every accepted job ``succeeded`` and the
campaign ``done`` (tests/support/failover.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.support.failover import campaign_through_failover, check_targets
from tests.support.figures import record
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redissentinel import SentinelGroup

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

SCENARIO = (
    "Sentinel failover mid-campaign (2 workers, 1,600 users at 40/s; 3 sentinels, "
    "down-after 1 s, primary SIGKILLed)"
)
RESUME_TARGET_SECONDS = 10.0


def test_workers_follow_a_sentinel_failover_after_the_primary_is_killed(
    campaign_emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    failover: list[float] = []
    with SentinelGroup(replicas=1, sentinels=3, down_after_milliseconds=1000) as group:
        primary = group.primary.client()

        def kill_the_primary() -> tuple[float, redis.Redis]:
            primary.wait(1, 2000)
            old = (group.primary.host, group.primary.port)
            group.primary.stop(kill=True)
            killed_at = time.time()
            new = group.wait_for_new_primary(old, timeout_seconds=30)
            failover.append(time.time() - killed_at)
            return killed_at, group.node_at(new).client()

        outcome = campaign_through_failover(
            campaign_emulator, group.url, tmp_path, primary=primary, fault=kill_the_primary
        )
    record(SCENARIO, "seconds from the kill to the sentinels' new primary", round(failover[0], 1))
    check_targets(SCENARIO, outcome, resume_target=RESUME_TARGET_SECONDS)
