"""``courier campaign start`` tuning flags: they reach the campaign, and bad values fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from tasks.campaigns import campaign_status
from tests.support.synthetic import CLIENT_ID, usernames
from worker.campaign.store import CampaignStore
from worker.cli.campaign import campaign_app
from worker.runtime import Runtime

runner = CliRunner()


def _users(tmp_path: Path) -> Path:
    path = tmp_path / "users.txt"
    path.write_text("\n".join(usernames(1, 30)) + "\n", encoding="utf-8")
    return path


def test_tuning_flags_reach_the_stored_campaign(runtime: Runtime, tmp_path: Path) -> None:
    result = runner.invoke(
        campaign_app,
        [
            "start", "--client-id", CLIENT_ID, "--file", str(_users(tmp_path)),
            "--chunk-size", "7", "--window", "3", "--lease-seconds", "90", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    campaign_id = json.loads(result.stdout)["id"]
    meta = CampaignStore(runtime.redis, campaign_id).meta()
    assert (int(meta["chunk_size"]), int(meta["window"])) == (7, 3)
    assert float(meta["lease_seconds"]) == 90.0
    runner.invoke(campaign_app, ["cancel", campaign_id, "--json"])
    # Rows a worker took before the cancel still go out: wait for them here, or they reach
    # the emulator during the next test, which counts its deliveries (test_crash).
    deadline = time.monotonic() + 30
    while campaign_status(campaign_id)["counts"].get("running", 0):
        assert time.monotonic() < deadline, campaign_status(campaign_id)
        time.sleep(0.05)


def test_bad_tuning_values_name_the_option(runtime: Runtime, tmp_path: Path) -> None:
    users = str(_users(tmp_path))
    for flag, value, message in [
        ("--chunk-size", "0", "chunk_size"),
        ("--window", "0", "window"),
        ("--lease-seconds", "0.5", "lease_seconds"),
    ]:
        arguments = ["start", "--client-id", CLIENT_ID, "--file", users, flag, value, "--json"]
        result = runner.invoke(campaign_app, arguments)
        assert result.exit_code != 0
        assert message in json.loads(result.stdout)["error"]["message"]
