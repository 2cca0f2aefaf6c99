"""Cognito misbehaving (the emulator's fault flags): transient failures end ``succeeded``,
permanent answers are never retried.

10% InternalErrorException, 5% bare HTML 5xx, 2% dropped connections and 2% of answers
delayed 3 s, under interactive jobs and a campaign on two workers.

A dropped connection is an ambiguous call (the request left, no answer came: it may have
delivered), so at most COURIER_AMBIGUOUS_RETRIES (1) more call follows it: a job whose
drop is followed by another fault ends ``failed`` ``CourierDeliveryUnconfirmed`` - the
intended outcome, counted here, never a second code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.campaigns import user_file
from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, start_campaign, submit_resends
from tests.support.runtime import is_terminal
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.store import CampaignStore
from worker.status import StatusStore

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

SCENARIO = "Cognito faults (10% InternalError, 5% 5xx, 2% drops, 2% 3-s spikes)"
FAULT_FLAGS = (
    "--fault-internal-error", "0.10",
    "--fault-5xx", "0.05",
    "--fault-drop", "0.02",
    "--fault-slow", "0.02",
    "--slow-ms", "3000",
)  # fmt: skip
JOBS = 200
UNKNOWN = 20
CAMPAIGN_USERS = 600


def test_transient_faults_succeed_and_permanent_ones_are_not_retried(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
    tmp_path: Path,
) -> None:
    emulator = start_emulator(
        "--users", "5000", "--rate-user-resource-read", "0", "--per-user-hourly-cap", "0",
        "--latency-ms", "20", "--jitter-ms", "20", *FAULT_FLAGS,
    )  # fmt: skip
    env = worker_env(emulator.endpoint_url, rate_limit=150, bulk_share=0.5)
    start_worker("w1", env)
    start_worker("w2", env)

    known = usernames(1, JOBS)
    unknown = [f"nobody{n:04d}" for n in range(UNKNOWN)]
    job_ids = submit_resends(env, CLIENT_ID, known + unknown)
    campaign_id = start_campaign(
        env, user_file(tmp_path, usernames(1001, CAMPAIGN_USERS)), CLIENT_ID
    )
    statuses = StatusStore(aof_client, ttl_seconds=3600)
    campaign = CampaignStore(aof_client, campaign_id)

    def all_done() -> bool:
        jobs_done = all(is_terminal(statuses, job_id) for job_id in job_ids)
        return jobs_done and campaign.status()["state"] == "done"

    wait_until(all_done, timeout_seconds=180, what="every job and the campaign to finish")

    documents = [statuses.get(job_id) for job_id in job_ids]
    by_name = dict(zip(known + unknown, documents, strict=True))
    states = Counter(doc["state"] for doc in documents)
    stats = emulator.handle.stats()
    errors: dict[str, int] = stats["errors"]
    injected = sum(n for code, n in errors.items() if code not in ("UserNotFoundException",))
    counts = campaign.status()["counts"]
    sent = Counter(d["username"] for d in emulator.handle.deliveries())

    permanent_calls = errors.get("UserNotFoundException", 0)
    record(SCENARIO, "faults injected (errors, 5xx, drops)", injected)
    record(SCENARIO, "jobs run", len(job_ids) + CAMPAIGN_USERS)
    record(SCENARIO, "interactive retries", sum(doc["attempts"] - 1 for doc in documents))
    unconfirmed = [d for d in documents if _unconfirmed(d)]
    not_found = [d for d in documents if (d["error"] or {}).get("code") == "UserNotFoundException"]
    ended_after_drop = len(unconfirmed) + counts["failed"]
    drops = errors.get("drop", 0)
    record(
        SCENARIO, "jobs and rows unconfirmed after a drop", ended_after_drop, target=f"<= {drops}"
    )
    for name, value, wanted in (
        ("interactive jobs succeeded", states["succeeded"], JOBS - len(unconfirmed)),
        ("campaign rows succeeded", counts["succeeded"], CAMPAIGN_USERS - counts["failed"]),
        ("permanent answers retried", permanent_calls - len(not_found), 0),
    ):
        record(SCENARIO, name, value, target=f"= {wanted}", met=value == wanted)

    assert injected >= 0.1 * (len(job_ids) + CAMPAIGN_USERS)  # the faults really happened
    assert ended_after_drop <= drops
    for name in known:
        doc = by_name[name]
        assert doc["state"] == "succeeded" or _unconfirmed(doc), doc
    for name in unknown:
        doc = by_name[name]
        assert doc["state"] == "failed", doc
        assert doc["error"]["code"] == "UserNotFoundException" or _unconfirmed(doc), doc
    # each unknown user answered UserNotFound exactly once: a permanent code is not retried
    assert permanent_calls == len(not_found), errors
    assert len(not_found) + sum(1 for n in unknown if _unconfirmed(by_name[n])) == UNKNOWN
    assert counts["succeeded"] + counts["failed"] == CAMPAIGN_USERS, counts
    # every known user that succeeded got one code; nobody got more than one
    assert all(sent[name] == 1 for name in known if by_name[name]["state"] == "succeeded")
    assert max(sent[name] for name in known) == 1
    campaign_sent = [sent[name] for name in usernames(1001, CAMPAIGN_USERS)]
    assert campaign_sent.count(1) >= counts["succeeded"]
    assert max(campaign_sent) == 1
    assert _jobs_with_retries(documents) > 0  # transient faults were met and retried


def _unconfirmed(doc: dict[str, Any]) -> bool:
    """Ended after a call whose answer never came (a drop) and one more that failed."""
    error = doc["error"] or {}
    return (
        doc["state"] == "failed"
        and error.get("code") == "CourierDeliveryUnconfirmed"
        and doc["ambiguous"] >= 1
        and doc["attempts"] <= 6
    )


def _jobs_with_retries(documents: list[dict[str, Any]]) -> int:
    return sum(1 for doc in documents if doc["attempts"] > 1)
