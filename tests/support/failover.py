"""What the failover scenarios share: a 1,600-user campaign on two workers taken through
a failover (:func:`campaign_through_failover`), a steady producer started before the
fault, and the issue's targets recorded and asserted (:func:`check_targets`).

The producer process is started (and has imported everything) before the fault; it
begins submitting when its trigger file appears, one job every ``interval`` seconds, and
prints one JSON line per submission: ``{"user", "job_id"}`` or ``{"user", "exit": 3,
"error"}`` for a :class:`~worker.errors.BrokerUnavailable` (the job was refused, not
accepted), so "a job id or exit 3, never a traceback" is checked per submission.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support.brokerprocs import produce, worker_env, workers
from tests.support.campaigns import user_file
from tests.support.figures import longest_gap, record, recovery_seconds
from tests.support.polling import wait_until
from tests.support.processes import ROOT, start_campaign
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.store import CampaignStore
from worker.contrib.emulator import EmulatorHandle
from worker.status import StatusStore

__all__ = [
    "CAMPAIGN_RATE",
    "CAMPAIGN_USERS",
    "EMULATOR_USERS",
    "FailoverOutcome",
    "SteadyProducer",
    "campaign_through_failover",
    "check_targets",
]

CAMPAIGN_USERS = 1600
CAMPAIGN_RATE = 40.0
"""The issue's campaign: 1,600 users at 40 calls/s (50/s budget, bulk share 0.8)."""
FAULT_AT_SERVED = 400
"""The fault comes once this many campaign rows succeeded (10 s into the sending)."""
BEFORE = usernames(1, 20)  # interactive jobs accepted before the fault
SLOW = BEFORE[:2]  # their calls take 8 s: in flight across the fault
DURING = usernames(30, 40)  # submitted one every 0.25 s from 1 s before the fault
CAMPAIGN = usernames(1001, CAMPAIGN_USERS)
EMULATOR_USERS = 1001 + CAMPAIGN_USERS
"""Synthetic users the scenarios' emulator must serve (``user0000001`` ...)."""

_SCRIPT = """
import json, os, sys, time
from tasks import submit_resend
from worker.errors import BrokerUnavailable
spec = json.loads(sys.argv[1])
while not os.path.exists(spec["trigger"]):
    time.sleep(0.02)
for user in spec["users"]:
    try:
        line = {"user": user, "job_id": submit_resend(spec["client_id"], user)}
    except BrokerUnavailable as exc:
        line = {"user": user, "exit": 3, "error": str(exc)}
    print(json.dumps(line), flush=True)
    time.sleep(spec["interval"])
"""


class SteadyProducer:
    """A producer process submitting ``users`` one by one once :meth:`go` is called."""

    def __init__(self, env: dict[str, str], users: list[str], folder: Path, *, interval: float):
        self._trigger = folder / "go"
        spec = {
            "client_id": CLIENT_ID,
            "users": users,
            "trigger": str(self._trigger),
            "interval": interval,
        }
        self.process = subprocess.Popen(  # our own interpreter and script
            [sys.executable, "-c", _SCRIPT, json.dumps(spec)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def go(self) -> None:
        """Start submitting."""
        self._trigger.touch()

    def results(self, *, timeout_seconds: float = 120) -> tuple[list[dict[str, Any]], str]:
        """Every submission's line, and the process's stderr (it must hold no traceback)."""
        out, err = self.process.communicate(timeout=timeout_seconds)
        assert self.process.returncode == 0, err[-3000:]
        return [json.loads(line) for line in out.splitlines() if line.strip()], err


Fault = Callable[[], tuple[float, redis.Redis]]
"""Causes the failover; returns its epoch time and a client of the new primary."""


@dataclass
class FailoverOutcome:
    """What a campaign through a failover gave (see :func:`campaign_through_failover`)."""

    fault_at: float
    exits: list[int | None]
    logs: list[str]
    submitted: list[dict[str, Any]]
    producer_err: str
    campaign: dict[str, Any]
    deliveries: list[dict[str, Any]]

    @property
    def accepted_users(self) -> list[str]:
        """Interactive users whose job was accepted (before the fault, or a job id during it)."""
        return BEFORE + [line["user"] for line in self.submitted if "job_id" in line]

    @property
    def refused(self) -> list[dict[str, Any]]:
        """Submissions during the fault that were refused (they must say exit 3)."""
        return [line for line in self.submitted if "job_id" not in line]

    def resumed_seconds(self, *, settle: float = 0.5) -> float:
        """Seconds from the fault to the first call that started after it (calls answered
        within ``settle`` s were already under way; the two slow ones are left out); inf
        when none came."""
        later = [
            d["time"]
            for d in self.deliveries
            if d["time"] > self.fault_at + settle and d["username"] not in SLOW
        ]
        return min(later) - self.fault_at if later else float("inf")


def campaign_through_failover(
    emulator: EmulatorHandle,
    redis_url: str,
    folder: Path,
    *,
    primary: redis.Redis,
    fault: Fault,
) -> FailoverOutcome:
    """Run the issue's campaign on two ``courier worker`` processes through ``fault``.

    Workers and producers reach Redis at ``redis_url`` (``primary`` is a direct client of
    the primary before the fault). The campaign (:data:`CAMPAIGN`, chunks of 50) starts;
    once :data:`FAULT_AT_SERVED` rows succeeded, 20 interactive jobs are submitted (two of
    them 8 s calls), a steady producer starts submitting :data:`DURING` one every 0.25 s,
    and 1 s later ``fault()`` runs. Then every accepted job must end ``succeeded`` and the
    campaign ``done`` (read on the new primary), within 150 s.
    """
    env = worker_env(redis_url, emulator.endpoint_url, COURIER_RATE_LIMIT="50")
    env["COURIER_BULK_SHARE"] = "0.8"
    with workers(2, env, folder) as pair:
        producer = SteadyProducer(env, DURING, folder, interval=0.25)
        campaign_id = start_campaign(
            env, user_file(folder, CAMPAIGN), CLIENT_ID, "--chunk-size", "50"
        )
        wait_until(
            lambda: (
                CampaignStore(primary, campaign_id).status()["counts"]["succeeded"]
                >= FAULT_AT_SERVED
            ),
            timeout_seconds=90,
            what=f"{FAULT_AT_SERVED} campaign rows served",
        )
        for user in SLOW:
            emulator.script(operation="ResendConfirmationCode", errors=["slow:8000"], username=user)
        before = produce(env, BEFORE)
        wait_until(
            lambda: any(
                StatusStore(primary, ttl_seconds=3600).get(j)["state"] == "running" for j in before
            ),
            timeout_seconds=15,
            what="a slow call in flight",
        )
        producer.go()
        time.sleep(1.0)  # a steady flow of submissions and calls, then the fault
        fault_at, new = fault()
        submitted, producer_err = producer.results()
        statuses = StatusStore(new, ttl_seconds=3600)
        every = before + [line["job_id"] for line in submitted if "job_id" in line]
        campaign = CampaignStore(new, campaign_id)
        wait_until(
            lambda: (
                all(statuses.get(j)["state"] == "succeeded" for j in every)
                and campaign.status()["state"] == "done"
            ),
            timeout_seconds=150,
            what="every accepted job to succeed and the campaign to finish",
        )
        exits = [w.returncode for w in pair if not w.alive]
        logs = [w.log() for w in pair]
    return FailoverOutcome(
        fault_at=fault_at,
        exits=exits,
        logs=logs,
        submitted=submitted,
        producer_err=producer_err,
        campaign=campaign.status(),
        deliveries=emulator.deliveries(),
    )


def check_targets(
    scenario: str,
    outcome: FailoverOutcome,
    *,
    resume_target: float,
    max_lost_lines: int | None = None,
) -> None:
    """Record the issue's figures for ``scenario``, then assert its targets: 0 worker exits;
    calls resume within ``resume_target`` s (the first call started after it, and calls at
    80 % of the campaign's rate over 2 s); every user (campaign and accepted jobs) called
    at least once; repeats no more than what was in flight (the 2 slow interactive calls,
    the campaign's ``redelivered`` rows); producers get a job id or exit 3, no traceback;
    each worker log says "lost the connection" (at most ``max_lost_lines`` times when
    given) as often as "answers again", and holds no traceback and no "Couldn't ack"."""
    calls = Counter(str(d["username"]) for d in outcome.deliveries)
    accepted = outcome.accepted_users
    job_repeats = sum(max(0, calls[u] - 1) for u in accepted)
    campaign_repeats = sum(max(0, calls[u] - 1) for u in CAMPAIGN)
    redelivered = int(outcome.campaign["redelivered"])
    never = sum(calls[u] == 0 for u in accepted + CAMPAIGN)
    resumed = outcome.resumed_seconds()
    times = [float(d["time"]) for d in outcome.deliveries]
    back = recovery_seconds(times, fault_at=outcome.fault_at, full_rate=CAMPAIGN_RATE)
    back_seconds = float("inf") if back is None else back
    gap = longest_gap(times, start=outcome.fault_at, end=max(times))
    refused = outcome.refused
    record(scenario, "worker exits", len(outcome.exits), target="0", met=not outcome.exits)
    record(
        scenario,
        "seconds from the fault to the first new call",
        round(resumed, 1),
        target=f"<= {resume_target:g} s",
        met=resumed <= resume_target,
    )
    record(
        scenario,
        "seconds from the fault to calls at 80 % of 40/s again",
        round(back_seconds, 1),
        target=f"<= {resume_target:g} s",
        met=back_seconds <= resume_target,
    )
    record(scenario, "longest stretch without a call after the fault (s)", round(gap, 1))
    record(
        scenario,
        "submissions during it: job id / exit 3",
        f"{len(DURING) - len(refused)} / {len(refused)}",
    )
    record(scenario, "users never called (campaign + jobs)", never, target="0", met=never == 0)
    record(
        scenario,
        "job repeats (2 calls in flight)",
        job_repeats,
        target="<= 2",
        met=job_repeats <= 2,
    )
    record(
        scenario,
        "campaign repeats",
        campaign_repeats,
        target=f"<= in flight ({redelivered})",
        met=campaign_repeats <= redelivered,
    )
    done = outcome.campaign["state"] == "done"
    record(scenario, "campaign state", str(outcome.campaign["state"]), target="done", met=done)

    assert outcome.exits == [], f"workers exited: {outcome.exits}"
    assert resumed <= resume_target, resumed
    assert back_seconds <= resume_target, back_seconds
    assert "Traceback" not in outcome.producer_err, outcome.producer_err[-3000:]
    assert all(line.get("exit") == 3 and "Redis" in line["error"] for line in refused), refused
    assert never == 0
    assert job_repeats <= 2
    assert campaign_repeats <= redelivered
    for log in outcome.logs:
        assert "Unrecoverable error" not in log, log[-3000:]
        assert "Couldn't ack" not in log, log[-3000:]  # acknowledgements wait out the fault
        assert "Traceback" not in log, log[-3000:]
        lost = log.count("lost the connection to Redis")
        assert lost == log.count("answers again after"), log[-3000:]
        assert max_lost_lines is None or lost <= max_lost_lines, log[-3000:]
