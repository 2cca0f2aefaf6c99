"""A worker SIGKILLed mid-campaign: its work moves on within seconds, the survivor never idles.

3,000 users, two ``courier worker`` processes, a 60 calls/s budget (all of it for bulk), the
emulator answering in 30-70 ms. One worker is SIGKILLed once 600 users have their code.
Chunks of 100 rows, so the window (15 members) spreads over both workers. Every setting
that matters to recovery is the default: a 15-s lease renewed by a 3-s heartbeat, a 2-s
watchdog, a 900-s visibility timeout.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
import redis

from tests.support.campaigns import CAMPAIGN_RATE, CAMPAIGN_USERS, CampaignRun
from tests.support.figures import longest_gap, record
from tests.support.processes import courier, tasks_received

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

SCENARIO = "SIGKILL of one of two workers mid-campaign (3,000 users, 60/s)"
USERS = CAMPAIGN_USERS
RATE = CAMPAIGN_RATE


def test_sigkill_mid_campaign_hands_the_dead_workers_rows_on_within_seconds(
    campaign_on_two_workers: Callable[..., CampaignRun], aof_client: redis.Redis, tmp_path: Path
) -> None:
    run = campaign_on_two_workers("victim", "survivor")
    victim, survivor = run.workers
    emulator, env, campaign_id, names, watch = (
        run.emulator, run.env, run.campaign_id, run.names, run.watch
    )  # fmt: skip
    run.wait_served(600)
    owners = cast(
        "dict[bytes, bytes]", aof_client.hgetall(f"courier:campaign:{campaign_id}:owners")
    )
    owners_at_kill = {k.decode(): v.decode() for k, v in owners.items()}
    killed_at = victim.kill()
    final = watch.wait_done(timeout_seconds=180)
    started_at = watch.samples[0].at
    done_at = watch.done_at()

    victim_tasks = tasks_received(victim.log())
    dead = {m: t for m, t in owners_at_kill.items() if t in victim_tasks}
    assert dead, f"the victim held no member at the kill: {owners_at_kill}"
    handed_on = watch.first(
        lambda s: any(s.owners.get(m, t) != t for m, t in dead.items()), after=killed_at
    )
    all_handed_on = watch.first(
        lambda s: all(s.owners.get(m, t) != t for m, t in dead.items()), after=killed_at
    )
    deliveries = emulator.handle.deliveries()
    sent = Counter(d["username"] for d in deliveries)
    times = [d["time"] for d in deliveries]
    by_user: dict[str, list[float]] = {}
    for d in deliveries:
        by_user.setdefault(d["username"], []).append(d["time"])
    # a repeat is the second call for a user: the rows in flight at the kill, sent again
    resent_at = min((sorted(t)[1] for t in by_user.values() if len(t) > 1), default=None)
    gap = longest_gap(times, start=killed_at, end=done_at)
    lost = [n for n in names if sent[n] == 0]
    repeats = sum(n - 1 for n in sent.values())
    duration = done_at - started_at
    ideal = USERS / RATE

    def since_kill(at: float | None) -> float:
        return -1.0 if at is None else at - killed_at

    record(SCENARIO, "faults injected (SIGKILL)", 1)
    record(SCENARIO, "jobs run (users)", USERS)
    record(SCENARIO, "members the dead worker held", len(dead))
    first = since_kill(handed_on)
    record(SCENARIO, "s from kill to first member handed on", first)
    last = since_kill(all_handed_on)
    record(
        SCENARIO,
        "s from kill to all its members handed on",
        last,
        target="<= 20",
        met=0 <= last <= 20,
    )
    resent = since_kill(resent_at)
    record(
        SCENARIO,
        "s from kill to its in-flight rows sent again",
        resent,
        target="<= 20",
        met=0 <= resent <= 20,
    )
    record(
        SCENARIO,
        "longest stretch without a call after the kill (s)",
        gap,
        target="< 2 (never idle)",
        met=gap < 2,
    )
    record(SCENARIO, "users never called (lost)", len(lost), target="= 0", met=not lost)
    record(
        SCENARIO,
        "repeats",
        repeats,
        target=f"<= in flight ({final['redelivered']})",
        met=repeats <= final["redelivered"],
    )
    after = sum(1 for t in times if t >= killed_at)
    record(SCENARIO, "calls/s from the kill to the end", after / max(0.001, done_at - killed_at))
    record(SCENARIO, "duration (s)", duration)
    record(SCENARIO, "ideal duration at 60/s (s)", ideal)
    record(SCENARIO, "victim exit status", victim.returncode or 0)

    report = tmp_path / "report.csv"
    done = courier("campaign", "report", campaign_id, "--out", str(report), env=env)
    assert done.returncode == 0, done.stderr
    lines = report.read_text(encoding="utf-8").splitlines()
    rows = {row["username"]: row for row in csv.DictReader(lines)}
    per_row = sum(int(row["redeliveries"]) for row in rows.values())
    record(
        SCENARIO,
        "report: rows with redeliveries",
        sum(1 for r in rows.values() if r["redeliveries"] != "0"),
    )

    assert victim.returncode == -9
    assert per_row == final["redelivered"]  # every repeat is visible on its row
    for name, n in sent.items():
        if n > 1:  # sent twice: the report says so, and counts both calls
            assert int(rows[name]["redeliveries"]) >= 1, rows[name]
            assert int(rows[name]["attempts"]) >= n, rows[name]
    assert survivor.alive
    assert final["counts"]["succeeded"] == USERS, final
    assert not lost
    assert repeats <= final["redelivered"]
    assert 0 <= last <= 20, f"the dead worker's members moved on {last:.1f} s after the kill"
    assert gap < 2, f"the survivor idled {gap:.1f} s while rows remained"
