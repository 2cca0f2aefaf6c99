"""Campaigns end to end: real Redis, a real Celery worker, boto3 over HTTP to the emulator."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytest

from tasks.campaigns import (
    campaign_status,
    cancel_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
    start_campaign,
    write_campaign_report,
)
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, POOL_ID, usernames
from worker.campaign.store import CampaignStore
from worker.contrib.emulator import EmulatorHandle
from worker.delivery import ResendRequest
from worker.errors import CampaignError, CampaignNotFoundError
from worker.guard import UserGuard
from worker.runtime import Runtime

STATUS_KEYS = {
    "id",
    "name",
    "state",
    "total",
    "counts",
    "rejected",
    "rate",
    "eta_seconds",
    "created_at",
    "updated_at",
}


def _file(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "users.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return path


def _report(campaign_id: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    out = tmp_path / "report.csv"
    write_campaign_report(campaign_id, out)
    with out.open(encoding="utf-8", newline="") as handle:
        return {row["username"]: row for row in csv.DictReader(handle)}


def test_file_campaign_sends_each_user_once_and_reports(
    celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    names = [*usernames(1, 1200), "nosuchuser", "user0000001", ""]
    doc = start_campaign(CLIENT_ID, file=_file(tmp_path, names), name="welcome back")
    assert set(doc) >= STATUS_KEYS
    assert (doc["total"], doc["rejected"], doc["duplicates"]) == (1201, 1, 1)
    assert doc["rejects"] == [{"line": 1203, "reason": "empty username"}]
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["counts"]["succeeded"] == 1200
    assert final["counts"]["failed"] == 1
    assert final["name"] == "welcome back"
    delivered = [d["username"] for d in emulator.deliveries()]
    assert sorted(delivered) == sorted(usernames(1, 1200))  # each exactly once
    report = _report(doc["id"], tmp_path)
    assert len(report) == 1202  # 1201 users, and the rejected line under ""
    assert report[""] == {
        "username": "",
        "state": "rejected",
        "error_code": "CourierRejectedInput",
        "error_message": "empty username",
        "delivery_medium": "",
        "destination": "",
        "attempts": "0",
        "redeliveries": "0",
        "time": "",
        "line": "1203",
        "ambiguous": "0",
    }
    assert report["nosuchuser"]["state"] == "failed"
    assert report["nosuchuser"]["error_code"] == "UserNotFoundException"
    assert report["nosuchuser"]["error_message"] == "Username/client id combination not found."
    ok = report["user0000007"]
    assert ok["state"] == "succeeded"
    assert ok["delivery_medium"] == "EMAIL"
    assert "@" in ok["destination"]
    assert "user0000007@" not in ok["destination"]  # masked as Cognito masks it
    assert ok["attempts"] == "1"
    assert ok["redeliveries"] == "0"
    assert ok["time"].endswith("Z")
    assert doc["id"] in [c["id"] for c in list_campaigns()]


def test_dry_run_counts_and_sends_nothing(
    runtime: Runtime, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    path = tmp_path / "users.csv"
    path.write_text("username,email\nalice,a\n,b\nalice,c\nbob,d\n", encoding="utf-8")
    doc = start_campaign(CLIENT_ID, file=path, dry_run=True)
    assert doc["id"] is None
    assert doc["dry_run"] is True
    assert (doc["total"], doc["rejected"], doc["duplicates"]) == (2, 1, 1)
    assert doc["rejects"] == [{"line": 3, "reason": "empty username"}]
    assert doc["estimated_seconds"] == pytest.approx(2 / doc["bulk_rate_per_second"], abs=0.1)
    assert list(runtime.redis.scan_iter(match="courier:campaign*")) == []
    assert emulator.deliveries() == []


def test_pause_resume_and_cancel(
    celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    emulator.configure(latency={"fixed_ms": 5.0})
    try:
        doc = start_campaign(CLIENT_ID, file=_file(tmp_path, usernames(1, 3000)), chunk_size=200)
        wait_for(campaign_status, doc["id"], states=("running",))
        while campaign_status(doc["id"])["counts"]["succeeded"] < 100:
            time.sleep(0.02)
        paused = pause_campaign(doc["id"])
        assert paused["state"] == "paused"
        time.sleep(0.5)  # rows in flight settle
        before = campaign_status(doc["id"])["counts"]
        assert before["running"] == 0
        time.sleep(0.5)
        assert campaign_status(doc["id"])["counts"] == before  # nothing moves while paused
        assert resume_campaign(doc["id"])["state"] == "running"
        while campaign_status(doc["id"])["counts"]["succeeded"] < before["succeeded"] + 100:
            time.sleep(0.02)
        cancelled = cancel_campaign(doc["id"])
        assert cancelled["state"] == "cancelled"
        time.sleep(0.5)
        final = campaign_status(doc["id"])
        counts = final["counts"]
        assert counts["queued"] == counts["running"] == counts["deferred"] == 0
        assert counts["succeeded"] + counts["cancelled"] == 3000
        assert counts["cancelled"] > 0
        assert len(emulator.deliveries()) == counts["succeeded"]
        assert final["state"] == "cancelled"
    finally:
        emulator.configure(latency={"fixed_ms": 0.0})


@pytest.mark.parametrize("policy", ["defer", "skip"])
def test_user_cap_defers_or_skips(
    policy: str, celery_worker: Any, runtime: Runtime, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    runtime.guard = UserGuard(runtime.redis, cap_per_hour=1, window_seconds=1.5)
    capped = "user0000003"
    capped_key = ResendRequest(CLIENT_ID, capped).user_key(runtime.clients)
    runtime.guard.reserve("ResendConfirmationCode", capped_key)
    doc = start_campaign(
        CLIENT_ID,
        file=_file(tmp_path, usernames(1, 10)),
        on_user_cap=policy,  # type: ignore[arg-type]
        lease_seconds=20,
    )
    final = wait_for(campaign_status, doc["id"], timeout=30)
    row = _report(doc["id"], tmp_path)[capped]
    outcomes = CampaignStore(runtime.redis, doc["id"]).outcomes(0).decode()
    if policy == "defer":
        assert final["counts"]["succeeded"] == 10
        assert row["state"] == "succeeded"
        assert "\t6\tCourierUserCapReached\t" in outcomes  # it waited in ``deferred`` first
        assert [d["username"] for d in emulator.deliveries()].count(capped) == 1
    else:
        assert final["counts"]["skipped"] == 1
        assert row["state"] == "skipped"
        assert row["error_code"] == "CourierUserCapReached"


def test_pool_source_lists_unconfirmed_users(
    celery_worker: Any, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "emulator")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "emulator")
    doc = start_campaign(
        CLIENT_ID,
        user_pool_id=POOL_ID,
        filter_expression='username ^= "user00001"',
        name="pool",
    )
    assert doc["state"] in ("ingesting", "running", "done")  # the listing runs in a worker
    # the synthetic pool sends with COGNITO_DEFAULT; the listing is not counted yet
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["total"] == 100  # user0000100 .. user0000199
    assert final["counts"]["succeeded"] == 100
    dry = start_campaign(CLIENT_ID, user_pool_id=POOL_ID, dry_run=True)
    assert dry["total"] == 5000
    assert any("COGNITO_DEFAULT" in w for w in dry["warnings"])


def test_pool_source_without_credentials_says_so(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for dry_run in (False, True):
        with pytest.raises(CampaignError, match="IAM credentials") as caught:
            start_campaign(CLIENT_ID, user_pool_id=POOL_ID, dry_run=dry_run)
        message = str(caught.value)
        assert message.startswith(f"listing pool {POOL_ID}")
        assert "this needs AWS IAM credentials" in message
        assert message.count("IAM credentials") == 1  # said once, not "needs ...: this needs"


def test_status_is_fast_while_a_campaign_runs(
    celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    doc = start_campaign(CLIENT_ID, file=_file(tmp_path, usernames(1, 4000)))
    samples = []
    for _ in range(300):
        started = time.perf_counter()
        campaign_status(doc["id"])
        samples.append(time.perf_counter() - started)
    samples.sort()
    # In this process the worker threads and the emulator share the GIL with the probe;
    # the benchmark measures the real p99 from a separate process (target <= 5 ms).
    assert samples[int(len(samples) * 0.99)] < 0.05
    cancel_campaign(doc["id"])


def test_unknown_campaign(runtime: Runtime) -> None:
    with pytest.raises(CampaignNotFoundError):
        campaign_status("0123456789abcdef")
    with pytest.raises(CampaignNotFoundError):
        pause_campaign("0123456789abcdef")


def test_keys_expire_with_the_campaign_ttl(
    runtime: Runtime, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    doc = start_campaign(CLIENT_ID, file=_file(tmp_path, usernames(1, 2500)))
    cancel_campaign(doc["id"])
    keys = list(runtime.redis.scan_iter(match=f"courier:campaign:{doc['id']}:*"))
    assert len(keys) >= 6
    ttl = runtime.settings.campaign_ttl_seconds
    for key in keys:
        remaining = runtime.redis.ttl(key)
        # -2: emptied and gone since the scan (a worker released its last lease meanwhile);
        # what must never happen is -1, a key left without an expiry
        assert remaining == -2 or 0 < remaining <= ttl, (key, remaining)
