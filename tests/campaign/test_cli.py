"""``courier campaign ...`` with ``--json``: exactly one JSON document on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.support.synthetic import CLIENT_ID, usernames
from worker.cli.campaign import campaign_app
from worker.contrib.emulator import EmulatorHandle
from worker.runtime import Runtime

runner = CliRunner()


def _json(*args: str) -> Any:
    result = runner.invoke(campaign_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_round_trip(celery_worker: Any, emulator: EmulatorHandle, tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    lines = [json.dumps({"username": name}) for name in usernames(1, 50)] + ["{oops"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dry = _json("start", "--client-id", CLIENT_ID, "--file", str(path), "--dry-run")
    assert (dry["total"], dry["rejected"], dry["dry_run"]) == (50, 1, True)
    assert dry["rejects"][0]["line"] == 51
    assert "estimated_seconds" in dry
    started = _json("start", "--client-id", CLIENT_ID, "--file", str(path), "--name", "cli")
    campaign_id = started["id"]
    done = _json("status", campaign_id, "--watch", "--interval-seconds", "0.1")
    assert done["state"] == "done"
    assert done["counts"]["succeeded"] == 50
    listed = _json("list")
    assert campaign_id in [c["id"] for c in listed["campaigns"]]
    out = tmp_path / "report.csv"
    assert _json("report", campaign_id, "--out", str(out))["rows"] == 51  # 50 users, 1 reject
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == (
        "username,state,error_code,error_message,delivery_medium,destination,attempts,"
        "redeliveries,time,line,ambiguous"
    )
    assert lines[-1].startswith(",rejected,CourierRejectedInput,not valid JSON")
    assert lines[-1].endswith(",51,0")
    for action in ("pause", "resume", "cancel"):  # finished: each means nothing, exit 2
        result = runner.invoke(campaign_app, [action, campaign_id, "--json"])
        assert result.exit_code == 2, result.output
        assert json.loads(result.stdout)["error"]["type"] == "CampaignStateError"
    assert _json("status", campaign_id)["state"] == "done"


def test_cli_errors_are_one_json_document(runtime: Runtime, tmp_path: Path) -> None:
    result = runner.invoke(campaign_app, ["status", "0123456789abcdef", "--json"])
    assert result.exit_code != 0
    assert json.loads(result.stdout)["error"]["type"] == "CampaignNotFoundError"
    bad = tmp_path / "bad.csv"
    bad.write_text("email\na@b.c\n", encoding="utf-8")
    result = runner.invoke(
        campaign_app, ["start", "--client-id", CLIENT_ID, "--file", str(bad), "--json"]
    )
    assert result.exit_code != 0
    assert "username" in json.loads(result.stdout)["error"]["message"]


def test_cli_start_from_stdin(runtime: Runtime) -> None:
    result = runner.invoke(
        campaign_app,
        ["start", "--client-id", CLIENT_ID, "--file", "-", "--dry-run", "--json"],
        input="alice\nbob\nalice\n",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["total"], document["duplicates"]) == (2, 1)


def test_cli_weight_is_checked_before_anything_is_read(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("alice\n", encoding="utf-8")
    for bad in ("0", "-1", "101", "nan", "inf"):
        result = runner.invoke(
            campaign_app,
            ["start", "--client-id", CLIENT_ID, "--file", str(path), "--weight", bad, "--json"],
        )
        assert result.exit_code == 2, (bad, result.output)
        assert "0.01 to 100" in json.loads(result.stdout)["error"]["message"]
    started = _json("start", "--client-id", CLIENT_ID, "--file", str(path), "--weight", "2.5")
    assert started["weight"] == 2.5
