"""Late answers and pool-wide answers, on real processes: the issue's targets.

* Every answer later than the read timeout (``courier emulator --script
  ResendConfirmationCode=slow:<ms>``): each job makes at most 2 calls and ends ``failed``
  ``CourierDeliveryUnconfirmed``, none ``skipped`` - with COURIER_READ_TIMEOUT_SECONDS=10
  and 12-s answers, and with the default (20 s) and 25-s answers.
* A 40-user campaign against a failing Lambda trigger pauses after at most 10 calls with
  0 rows failed, and ``courier campaign resume`` finishes it once the trigger is fixed.
* A mistyped client id pauses a campaign after at most 1 call.

A private AOF redis-server, the emulator and ``courier worker`` as subprocesses; the
operator's commands through the ``courier`` CLI.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.campaigns import user_file
from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import (
    EmulatorProcess,
    WorkerProcess,
    courier,
    read_json,
    start_campaign,
    submit_resends,
)
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.store import CampaignStore
from worker.status import TERMINAL_STATES, StatusStore

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(400)]

OPERATION = "ResendConfirmationCode"
LAMBDA_TIMEOUT = "UnexpectedLambdaException:Socket timeout while invoking Lambda function."


def _late_answers(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
    *,
    late_ms: int,
    jobs: int,
    scenario: str,
    **settings: object,
) -> None:
    emulator = start_emulator(
        "--users", "200", "--script", f"{OPERATION}=slow:{late_ms}*{4 * jobs}"
    )  # fmt: skip
    env = worker_env(emulator.endpoint_url, **settings)
    start_worker("w1", env, "-c", "8")
    began = time.monotonic()
    job_ids = submit_resends(env, CLIENT_ID, usernames(1, jobs))
    statuses = StatusStore(aof_client, ttl_seconds=3600)

    def finished() -> list[dict[str, Any]] | None:
        documents = [statuses.get(job_id) for job_id in job_ids]
        return documents if all(d["state"] in TERMINAL_STATES for d in documents) else None

    documents = wait_until(finished, timeout_seconds=300, what="every job to end")
    seconds = time.monotonic() - began
    calls = emulator.handle.stats()["totals"].get(OPERATION, 0)
    states = Counter((d["state"], (d["error"] or {}).get("code")) for d in documents)
    most = max(int(d["attempts"]) for d in documents)
    record(scenario, "jobs", jobs)
    record(scenario, "most calls for one job", most, target="<= 2", met=most <= 2)
    record(scenario, "calls that reached the emulator", calls)
    unconfirmed = states[("failed", "CourierDeliveryUnconfirmed")]
    record(scenario, "jobs failed CourierDeliveryUnconfirmed", unconfirmed, target=f"= {jobs}")
    skipped = sum(n for (state, _), n in states.items() if state == "skipped")
    record(scenario, "jobs skipped", skipped, target="= 0", met=skipped == 0)
    record(scenario, "seconds until every job ended", seconds)
    assert unconfirmed == jobs, states
    assert skipped == 0
    for document in documents:
        assert (document["attempts"], document["ambiguous"]) == (2, 2), document
        message = str(document["error"]["message"])
        assert message.startswith("2 call(s) left, 2 without an answer"), message
    assert calls == 2 * jobs
    # the operator's view says the same
    shown = courier("status", job_ids[0], "--json", env=env)
    assert read_json(shown.stdout)["ambiguous"] == 2


def test_answers_after_a_10_s_read_timeout_end_unconfirmed_after_2_calls(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
) -> None:
    _late_answers(
        start_emulator, start_worker, worker_env, aof_client,
        late_ms=12000, jobs=6, scenario="Every answer 12 s late, read timeout 10 s",
        read_timeout_seconds=10,
    )  # fmt: skip


def test_answers_after_the_default_read_timeout_end_unconfirmed_after_2_calls(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
) -> None:
    _late_answers(
        start_emulator, start_worker, worker_env, aof_client,
        late_ms=25000, jobs=2, scenario="Every answer 25 s late, default read timeout (20 s)",
    )  # fmt: skip


def _paused(campaign: CampaignStore) -> dict[str, object] | None:
    status = campaign.status()
    return status if status["state"] == "paused" else None


def test_a_failing_trigger_pauses_a_campaign_and_resume_finishes_it(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
    tmp_path: Path,
) -> None:
    scenario = "40-user campaign, a failing Lambda trigger"
    emulator = start_emulator("--users", "500", "--script", f"{OPERATION}={LAMBDA_TIMEOUT}*400")
    env = worker_env(emulator.endpoint_url)
    start_worker("w1", env)
    names = usernames(1, 40)
    campaign_id = start_campaign(env, user_file(tmp_path, names), CLIENT_ID)
    campaign = CampaignStore(aof_client, campaign_id)
    paused = wait_until(lambda: _paused(campaign), timeout_seconds=60, what="the pause")
    calls = emulator.handle.stats()["totals"].get(OPERATION, 0)
    counts: dict[str, int] = paused["counts"]  # type: ignore[assignment]
    record(scenario, "calls before the pause", calls, target="<= 10", met=calls <= 10)
    record(scenario, "rows failed", counts["failed"], target="= 0", met=counts["failed"] == 0)
    assert calls <= 10
    assert counts["failed"] == 0
    assert counts["queued"] + counts["deferred"] == 40
    why: dict[str, str] = paused["pause_reason"]  # type: ignore[assignment]
    assert why["code"] == "UnexpectedLambdaException"
    assert "Socket timeout while invoking Lambda function." in why["message"]
    shown = courier("campaign", "status", campaign_id, "--json", env=env)
    assert read_json(shown.stdout)["pause_reason"]["code"] == "UnexpectedLambdaException"

    emulator.handle.reset()  # the trigger is fixed
    resumed = courier("campaign", "resume", campaign_id, "--json", env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    done = wait_until(
        lambda: campaign.status()["state"] == "done", timeout_seconds=60, what="the campaign"
    )
    assert done
    final = campaign.status()
    record(scenario, "rows succeeded after resume", final["counts"]["succeeded"], target="= 40")
    assert final["counts"]["succeeded"] == 40, final
    sent = Counter(d["username"] for d in emulator.handle.deliveries())
    assert set(sent) == set(names)
    assert max(sent.values()) == 1


def test_a_mistyped_client_id_pauses_a_campaign_after_one_call(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
    tmp_path: Path,
) -> None:
    scenario = "60-user campaign, a mistyped client id"
    emulator = start_emulator("--users", "500")
    env = worker_env(emulator.endpoint_url)
    start_worker("w1", env)
    mistyped = CLIENT_ID[:-1] + "9"
    campaign_id = start_campaign(env, user_file(tmp_path, usernames(1, 60)), mistyped)
    campaign = CampaignStore(aof_client, campaign_id)
    paused = wait_until(lambda: _paused(campaign), timeout_seconds=60, what="the pause")
    calls = emulator.handle.stats()["totals"].get(OPERATION, 0)
    counts: dict[str, int] = paused["counts"]  # type: ignore[assignment]
    record(scenario, "calls before the pause", calls, target="<= 1", met=calls <= 1)
    record(scenario, "rows failed", counts["failed"], target="= 0", met=counts["failed"] == 0)
    assert calls <= 1
    assert counts["failed"] == 0
    assert paused["pause_reason"]["code"] == "ResourceNotFoundException"  # type: ignore[index]
    courier("campaign", "cancel", campaign_id, "--json", env=env)
