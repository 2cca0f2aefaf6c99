"""A managed failover behind one endpoint mid-campaign is an outage: workers pause, follow.

What ElastiCache, Memorystore and Sentinel do, played with real processes: two ``courier
worker`` processes reach Redis through one endpoint (a TCP forwarder of the test's own,
tests/support/forwarder.py, standing for the managed DNS name) while they send a campaign
of 1,600 users at 40 calls/s. Once 400 are served, with two interactive calls in flight
(8 s each), the replica is promoted (``REPLICAOF NO ONE``), the old primary demoted
(``REPLICAOF`` the new one) and the endpoint moved; connections to the old primary are
cut 3 s later. Meanwhile a producer submits more jobs. Targets (issue 18): 0 worker
exits, calls resume within 10 s of the move, every user called at least once, repeats no
more than what was in flight, every accepted job ``succeeded`` and the campaign ``done``,
producers get a job id or exit 3 (tests/support/failover.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.support.failover import campaign_through_failover, check_targets
from tests.support.forwarder import Forwarder
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

SCENARIO = (
    "Managed failover mid-campaign (2 workers, 1,600 users at 40/s; REPLICAOF, "
    "endpoint moved, old cut 3 s later)"
)
RESUME_TARGET_SECONDS = 10.0


def test_workers_follow_a_managed_failover_behind_one_endpoint(
    campaign_emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    with PrivateRedis() as old, PrivateRedis(replica_of=old) as new:
        endpoint = Forwarder((old.host, old.port))
        old_client = old.client()

        def fail_over() -> tuple[float, redis.Redis]:
            old_client.wait(1, 2000)  # the replica has it all
            new.client().replicaof("NO", "ONE")
            old_client.replicaof(new.host, new.port)
            endpoint.move_to((new.host, new.port), cut_after_seconds=3)
            return time.time(), new.client()

        try:
            outcome = campaign_through_failover(
                campaign_emulator, endpoint.url, tmp_path, primary=old_client, fault=fail_over
            )
        finally:
            endpoint.close()
    check_targets(SCENARIO, outcome, resume_target=RESUME_TARGET_SECONDS, max_lost_lines=2)
