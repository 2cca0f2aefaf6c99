"""Kill and restart mid-campaign: a worker SIGKILLed, then Redis (AOF) restarted.

3,000 users at 60 calls/s on two ``courier worker`` processes. Once 600 users are served
one worker is SIGKILLed; once 1,200 are, Redis is stopped and started again 3 s later
(same port, its AOF kept). The survivor must stay up, call again within 10 s of Redis
answering, and the campaign must end within 1.5 x its ideal duration, with every user
called and repeats no more than what was in flight.

"Ideal" is the users divided by the budget (50 s); on a loaded machine the campaign may
not reach the budget even without faults, so the figure is also given against the rate
this run reached before the first fault, and that one is the assertion.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.campaigns import CAMPAIGN_RATE, CAMPAIGN_USERS, CampaignRun
from tests.support.figures import longest_gap, record
from worker.contrib.redisserver import PrivateRedis

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(400)]

SCENARIO = "SIGKILL, then Redis restart (AOF), mid-campaign (3,000 users, 60/s)"
DOWN_SECONDS = 3.0


def test_a_kill_and_a_redis_restart_cost_the_campaign_little(
    campaign_on_two_workers: Callable[..., CampaignRun], aof_redis: PrivateRedis
) -> None:
    run = campaign_on_two_workers("victim", "survivor")
    victim, survivor = run.workers
    started_at = time.time()
    run.wait_served(600)
    served_at_kill = run.watch.latest()["counts"]["succeeded"]
    killed_at = victim.kill()
    pre_fault_rate = served_at_kill / (killed_at - started_at)
    run.wait_served(1200)
    stopped_at = time.time()
    aof_redis.restart(down_seconds=DOWN_SECONDS)
    answering_at = time.time()
    final = run.watch.wait_done(timeout_seconds=300)
    done_at = run.watch.done_at()

    deliveries = run.emulator.handle.deliveries()
    sent = Counter(d["username"] for d in deliveries)
    times = sorted(d["time"] for d in deliveries)
    resumed_at = next((t for t in times if t >= answering_at), None)
    resumed = -1.0 if resumed_at is None else resumed_at - answering_at
    lost = [n for n in run.names if sent[n] == 0]
    repeats = sum(n - 1 for n in sent.values())
    duration = done_at - started_at
    ideal = CAMPAIGN_USERS / CAMPAIGN_RATE
    ideal_here = CAMPAIGN_USERS / pre_fault_rate

    record(SCENARIO, "faults injected (SIGKILL + Redis restart)", 2)
    record(SCENARIO, "jobs run (users)", CAMPAIGN_USERS)
    record(SCENARIO, "Redis down (s)", answering_at - stopped_at)
    record(SCENARIO, "workers that exited besides the killed one", int(not survivor.alive),
           target="= 0", met=survivor.alive)  # fmt: skip
    record(SCENARIO, "s from Redis answering to calls again", resumed, target="<= 10",
           met=0 <= resumed <= 10)  # fmt: skip
    record(SCENARIO, "longest stretch without a call after Redis answered (s)",
           longest_gap(times, start=answering_at, end=done_at))  # fmt: skip
    record(SCENARIO, "users never called (lost)", len(lost), target="= 0", met=not lost)
    record(SCENARIO, "repeats", repeats, target=f"<= in flight ({final['redelivered']})",
           met=repeats <= final["redelivered"])  # fmt: skip
    record(SCENARIO, "duration (s)", duration)
    record(SCENARIO, "duration / ideal at 60/s", duration / ideal, target="<= 1.5",
           met=duration <= 1.5 * ideal)  # fmt: skip
    record(SCENARIO, "calls/s before the first fault", pre_fault_rate)
    record(SCENARIO, "duration / ideal at that rate", duration / ideal_here, target="<= 1.5",
           met=duration <= 1.5 * ideal_here)  # fmt: skip

    assert victim.returncode == -9
    assert survivor.alive, survivor.log()[-3000:]
    assert final["counts"]["succeeded"] == CAMPAIGN_USERS, final
    assert not lost
    assert repeats <= final["redelivered"]
    assert 0 <= resumed <= 10, f"calls resumed {resumed:.1f} s after Redis answered"
    assert duration <= 1.5 * ideal_here, f"{duration:.0f} s, ideal here {ideal_here:.0f} s"
