"""Account-wide answers pause a campaign; Cognito's per-user cap defers a row.

Real Redis, a real Celery worker, boto3 over HTTP to the emulator, whose daily e-mail
limit (``daily_email_limit``) and scripted answers (``@attempt-limit``,
``CodeDeliveryFailureException``) cause each condition.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tasks.campaigns import (
    campaign_status,
    cancel_campaign,
    resume_campaign,
    start_campaign,
    write_campaign_report,
)
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, POOL_ID, usernames
from worker.campaign.account import RUN_DISTINCT_USERS
from worker.campaign.preflight import COGNITO_DEFAULT_EMAILS_PER_DAY
from worker.cli.campaign import campaign_app
from worker.contrib.emulator import EmulatorHandle
from worker.delivery import ResendRequest
from worker.guard import StubUserGuard, UserGuard
from worker.runtime import Runtime

OPERATION = ResendRequest.operation


def _data(names: list[str]) -> bytes:
    return ("\n".join(names) + "\n").encode()


def _guard_calls(runtime: Runtime, name: str) -> int:
    request = ResendRequest(CLIENT_ID, name)
    return runtime.guard.count(OPERATION, request.user_key(runtime.clients))


def _until_settled(campaign_id: str, rows: int, timeout: float = 30) -> dict[str, Any]:
    """The status once ``rows`` rows are succeeded or deferred."""
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = campaign_status(campaign_id)
        if doc["counts"]["succeeded"] + doc["counts"]["deferred"] >= rows:
            return doc
        assert time.monotonic() < deadline, doc
        time.sleep(0.05)


def test_daily_email_limit_pauses_and_resume_finishes(
    celery_worker: Any, emulator: EmulatorHandle, runtime: Runtime, tmp_path: Path
) -> None:
    names = usernames(1, 60)
    emulator.configure(daily_email_limit=20)
    try:
        doc = start_campaign(CLIENT_ID, data=_data(names), file_format="text")
        paused = wait_for(campaign_status, doc["id"], states=("paused",), timeout=60)
    finally:
        emulator.configure(daily_email_limit=0)
    why = paused["pause_reason"]
    assert why["code"] == "LimitExceededException"
    assert why["message"].startswith("Exceeded daily email limit for the operation or the account.")
    assert why["at"].endswith("Z")
    counts = paused["counts"]
    assert counts["succeeded"] == 20
    assert (counts["failed"], counts["skipped"], counts["running"]) == (0, 0, 0)
    assert counts["queued"] + counts["deferred"] == 40  # all go back, none burnt
    delivered = [d["username"] for d in emulator.deliveries()]
    assert sorted(delivered) == names[:20]
    # the rows that met the limit spent none of their users' five hourly sends
    assert [_guard_calls(runtime, name) for name in names[20:]] == [0] * 40
    assert _guard_calls(runtime, names[0]) == 1
    # --watch stops and says why; status --json carries pause_reason
    result = CliRunner().invoke(campaign_app, ["status", doc["id"], "--watch", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pause_reason"]["code"] == "LimitExceededException"
    resumed = resume_campaign(doc["id"])
    assert resumed["pause_reason"] is None
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["counts"]["succeeded"] == 60
    assert final["pause_reason"] is None
    sent = Counter(d["username"] for d in emulator.deliveries())
    assert set(sent) == set(names)
    assert max(sent.values()) == 1


def test_cognito_attempt_limit_defers_the_row_and_teaches_the_guard(
    celery_worker: Any, emulator: EmulatorHandle, runtime: Runtime, tmp_path: Path
) -> None:
    names = usernames(101, 10)
    capped = names[3]
    emulator.script(operation=OPERATION, username=capped, errors=["@attempt-limit"])
    doc = start_campaign(CLIENT_ID, data=_data(names), file_format="text")
    settled = _until_settled(doc["id"], 10)
    counts = settled["counts"]
    assert (counts["succeeded"], counts["deferred"], counts["failed"]) == (9, 1, 0)
    assert settled["state"] == "running"
    assert settled["eta_seconds"] > 3000  # the user's hour, not seconds
    assert settled["pause_reason"] is None  # a user's answer is no account condition
    # the guard learnt the calls it never saw: the user's hour is spent here too
    assert _guard_calls(runtime, capped) == runtime.settings.user_hourly_cap
    out = tmp_path / "report.csv"
    cancel_campaign(doc["id"])
    write_campaign_report(doc["id"], out)
    row = next(line for line in out.read_text(encoding="utf-8").splitlines() if capped in line)
    assert 'LimitExceededException,"Attempt limit exceeded, please try after some time."' in row


def test_attempt_limit_with_skip_ends_the_row_skipped(
    celery_worker: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    names = usernames(201, 5)
    emulator.script(operation=OPERATION, username=names[0], errors=["@attempt-limit"])
    doc = start_campaign(CLIENT_ID, data=_data(names), file_format="text", on_user_cap="skip")
    final = wait_for(campaign_status, doc["id"], timeout=30)
    assert (final["counts"]["succeeded"], final["counts"]["skipped"]) == (4, 1)
    assert final["counts"]["failed"] == 0


def test_a_run_of_delivery_failures_across_users_pauses(
    celery_worker: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    names = usernames(301, 40)
    failures = RUN_DISTINCT_USERS + 2
    emulator.script(
        operation=OPERATION,
        errors=[f"CodeDeliveryFailureException:Unable to deliver message*{failures}"],
    )
    doc = start_campaign(CLIENT_ID, data=_data(names), file_format="text")
    paused = wait_for(campaign_status, doc["id"], states=("paused",), timeout=60)
    why = paused["pause_reason"]
    assert why["code"] == "CodeDeliveryFailureException"
    assert f"{RUN_DISTINCT_USERS} different users in a row" in why["message"]
    counts = paused["counts"]
    assert counts["failed"] == 0  # the whole run went back
    assert counts["succeeded"] == 0
    assert counts["queued"] + counts["deferred"] == 40
    released = [_guard_calls(runtime, name) for name in names[:RUN_DISTINCT_USERS]]
    assert released == [0] * RUN_DISTINCT_USERS
    resume_campaign(doc["id"])
    final = wait_for(campaign_status, doc["id"], timeout=60)
    # two scripted failures were left: a run of two is no account condition
    assert (final["counts"]["succeeded"], final["counts"]["failed"]) == (38, 2)
    assert final["pause_reason"] is None


def test_preflight_says_who_can_be_reached_today_and_the_case_rule(
    runtime: Runtime, emulator: EmulatorHandle, monkeypatch: Any
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "emulator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator")
    names = [*usernames(1, 60), "USER0000001"]
    dry = start_campaign(CLIENT_ID, data=_data(names), user_pool_id=POOL_ID, dry_run=True)
    assert dry["reachable_today"] == COGNITO_DEFAULT_EMAILS_PER_DAY  # 50 of the 60
    assert any("at most 50 of this campaign's 60 users" in w for w in dry["warnings"])
    # the synthetic pool is case-insensitive (CaseSensitive false, as the console makes it)
    assert (dry["case_sensitive"], dry["case_merged"], dry["total"]) == (False, 1, 60)
    few = start_campaign(CLIENT_ID, data=_data(names[:10]), user_pool_id=POOL_ID, dry_run=True)
    assert few["reachable_today"] == 10
    told = start_campaign(CLIENT_ID, data=_data(names), dry_run=True, case_sensitive=True)
    assert (told["case_merged"], told["total"], told["reachable_today"]) == (0, 61, None)


def test_guard_saturate_refuses_until_the_window_has_room(runtime: Runtime) -> None:
    for guard in (
        UserGuard(runtime.redis, cap_per_hour=5, window_seconds=600, key_prefix="courier:t"),
        StubUserGuard(cap_per_hour=5, window_seconds=600),
    ):
        assert guard.reserve(OPERATION, "k").allowed
        wait = guard.saturate(OPERATION, "k")
        assert 599 < wait <= 600  # the unseen calls may have been made just now
        assert guard.count(OPERATION, "k") == 5
        refused = guard.reserve(OPERATION, "k")
        assert not refused.allowed
        assert refused.retry_after_seconds > 599
        assert guard.saturate(OPERATION, "k") > 599  # already full: nothing added
        assert guard.count(OPERATION, "k") == 5
