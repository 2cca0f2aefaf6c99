"""A worker SIGTERMed mid-campaign (a rolling deploy): it exits within seconds, well inside
the pod's grace period, and nothing is lost or repeated.

3,000 users, two ``courier worker`` processes, 60 calls/s, as in the SIGKILL scenario. On
SIGTERM Celery stops taking messages and waits for the tasks it runs; each chunk task hands
its member back after the batch in hand, so another worker goes on at once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.campaigns import CAMPAIGN_USERS, CampaignRun
from tests.support.figures import longest_gap, record

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

SCENARIO = "SIGTERM of one of two workers mid-campaign (3,000 users, 60/s)"
GRACE_SECONDS = 200  # deploy/k8s/worker.yaml terminationGracePeriodSeconds


def test_sigterm_mid_campaign_exits_quickly_and_loses_nothing(
    campaign_on_two_workers: Callable[..., CampaignRun],
) -> None:
    run = campaign_on_two_workers("leaving", "staying")
    leaving, staying = run.workers
    emulator, names, watch = run.emulator, run.names, run.watch
    run.wait_served(600)
    termed_at = leaving.terminate()
    status = leaving.wait_exit(timeout_seconds=GRACE_SECONDS)
    exited_after = time.time() - termed_at
    final = watch.wait_done(timeout_seconds=180)
    done_at = watch.done_at()
    deliveries = emulator.handle.deliveries()
    sent = Counter(d["username"] for d in deliveries)
    lost = [n for n in names if sent[n] == 0]
    repeats = sum(n - 1 for n in sent.values())
    gap = longest_gap([d["time"] for d in deliveries], start=termed_at, end=done_at)

    record(SCENARIO, "faults injected (SIGTERM)", 1)
    record(SCENARIO, "jobs run (users)", CAMPAIGN_USERS)
    record(
        SCENARIO,
        "s from SIGTERM to exit",
        exited_after,
        target=f"< {GRACE_SECONDS} (grace period)",
        met=exited_after < GRACE_SECONDS,
    )
    record(SCENARIO, "exit status", status, target="= 0", met=status == 0)
    record(SCENARIO, "users never called (lost)", len(lost), target="= 0", met=not lost)
    record(SCENARIO, "repeats", repeats, target="= 0", met=repeats == 0)
    record(SCENARIO, "longest stretch without a call after SIGTERM (s)", gap)
    record(SCENARIO, "duration (s)", done_at - watch.samples[0].at)

    assert status == 0, leaving.log()[-3000:]
    assert staying.alive
    assert final["counts"]["succeeded"] == CAMPAIGN_USERS, final
    assert not lost
    assert repeats == 0, f"{repeats} users got a second code after a clean shutdown"
    assert exited_after < 30, f"took {exited_after:.1f} s to stop"
