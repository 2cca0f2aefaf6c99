"""Campaign rows where operators look: a WARNING line per failed or deferred row, retry
lines naming the row, the chunk task's result summarising its rows; usernames only with
COURIER_LOG_USERNAMES=true. Real worker processes on a real Redis, the emulator answering."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, courier, start_campaign
from tests.support.stack import Stack, stack_env
from tests.support.synthetic import CLIENT_ID
from worker.contrib.redisserver import PrivateRedis
from worker.observe.logs import configure_logging
from worker.observe.rows import RowTally, row_recorded, tallying


@pytest.mark.parametrize(
    ("rows", "stop", "summary"),
    [
        ([("succeeded", None)] * 15 + [("failed", "CodeDeliveryFailureException")], "done",
         "16 rows: 15 succeeded, 1 failed (CodeDeliveryFailureException)"),
        ([("succeeded", None)] * 2 + [("deferred", "LimitExceededException")] * 2, "sliced",
         "4 rows: 2 succeeded, 2 deferred (LimitExceededException); sliced"),
        ([("failed", "UserNotFoundException")] * 2 + [("failed", "CodeDeliveryFailureException")],
         "done", "3 rows: 3 failed (2 UserNotFoundException, 1 CodeDeliveryFailureException)"),
        ([("succeeded", None)], "done", "1 row: 1 succeeded"),
        ([], "busy", "0 rows; busy"),
    ],
)  # fmt: skip
def test_the_summary_counts_rows_by_state_and_code(
    rows: list[tuple[str, str | None]], stop: str, summary: str
) -> None:
    tally = RowTally()
    for state, code in rows:
        tally.add(state, code)
    assert tally.summary(stop) == summary


def test_a_failed_row_is_one_warning_and_the_username_only_when_given() -> None:
    stream = io.StringIO()
    configure_logging("json", logging.INFO, stream=stream)
    try:
        with tallying() as tally:
            row_recorded("camp-1", 6, "failed", "CodeDeliveryFailureException")
            row_recorded("camp-1", 7, "succeeded", None)
            row_recorded("camp-1", 8, "deferred", "LimitExceededException", username="alice",
                         retry_in_seconds=61.5)  # fmt: skip
        row_recorded("camp-1", 9, "failed", "X")  # outside a task: logged, not tallied
    finally:
        configure_logging("text", logging.WARNING)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["row"], line["error_code"]) for line in lines] == [
        ("WARNING", 7, "CodeDeliveryFailureException"),
        ("WARNING", 9, "LimitExceededException"),
        ("WARNING", 10, "X"),
    ]
    assert all(line["campaign_id"] == "camp-1" for line in lines)
    assert "username" not in lines[0]
    assert lines[1]["username"] == "alice"
    assert lines[1]["message"] == (
        "campaign camp-1 row 9 deferred (LimitExceededException); sent again in about 62 s"
    )
    assert tally.summary("done") == (
        "3 rows: 1 failed (CodeDeliveryFailureException), 1 succeeded, "
        "1 deferred (LimitExceededException)"
    )


def _campaign_counts(env: dict[str, str], campaign_id: str) -> dict[str, Any]:
    status = courier("campaign", "status", campaign_id, "--json", env=env)
    document: dict[str, Any] = json.loads(status.stdout)
    return document


def _run_campaign(
    stack: Stack, env: dict[str, str], tmp_path: Path, names: list[str], wanted: dict[str, int]
) -> str:
    users = tmp_path / "users.txt"
    users.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    campaign_id = start_campaign(env, users, CLIENT_ID)

    def settled() -> dict[str, Any] | None:
        document = _campaign_counts(env, campaign_id)
        counts = {k: v for k, v in document["counts"].items() if v}
        return document if counts == wanted else None

    wait_until(settled, timeout_seconds=90, what=f"campaign counts {wanted}", interval_seconds=0.5)
    return campaign_id


def _script(stack: Stack, username: str, error: str) -> None:
    stack.emulator.handle.script(
        operation="ResendConfirmationCode", username=username, errors=[error]
    )


def _lines(worker: WorkerProcess, campaign_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(raw) for raw in worker.log().splitlines() if raw.startswith("{")]
    return [line for line in lines if line.get("campaign_id") == campaign_id]


def test_a_real_worker_logs_failed_and_deferred_rows_and_names_rows_on_retries(
    stack: Stack, tmp_path: Path
) -> None:
    names = ["user0000093", "user0000094", "user0000095", "user0000096"]
    _script(stack, names[1], "CodeDeliveryFailureException")
    _script(stack, names[2], "TooManyRequestsException")  # once: retried, then sent
    _script(stack, names[3], "LimitExceededException")  # the user's hourly cap: deferred
    wanted = {"succeeded": 2, "failed": 1, "deferred": 1}
    campaign_id = _run_campaign(stack, stack.env, tmp_path, names, wanted)
    lines = wait_until(
        lambda: [x for x in _lines(stack.worker, campaign_id) if x["level"] == "WARNING"] or None,
        timeout_seconds=10,
        what="the campaign's WARNING lines",
    )
    rows = {(line["row"], line["error_code"]) for line in lines if "error_code" in line}
    assert rows == {(2, "CodeDeliveryFailureException"), (4, "LimitExceededException")}, lines
    everything = _lines(stack.worker, campaign_id)
    retry = [line for line in everything if "retrying" in line["message"]]
    assert retry, everything
    assert retry[0]["row"] == 3
    assert "TooManyRequestsException" in retry[0]["message"]
    # COURIER_LOG_USERNAMES is off: no username anywhere in the campaign's lines.
    text = json.dumps(everything)
    assert not any(name in text for name in names)
    assert not any("username" in line for line in everything)


def test_usernames_are_logged_only_with_courier_log_usernames(stack: Stack, tmp_path: Path) -> None:
    with PrivateRedis() as server:
        env = stack_env(
            server.url, stack.emulator.endpoint_url, log_format="json", log_usernames="true"
        )
        worker = WorkerProcess("names", env, tmp_path, ["-c", "2"]).start()
        try:
            names = ["user0000097", "user0000098"]
            _script(stack, names[0], "CodeDeliveryFailureException")
            _script(stack, names[1], "TooManyRequestsException")
            wanted = {"succeeded": 1, "failed": 1}
            campaign_id = _run_campaign(stack, env, tmp_path, names, wanted)
            lines = wait_until(
                lambda: [x for x in _lines(worker, campaign_id) if "error_code" in x] or None,
                timeout_seconds=10,
                what="the failed row's line",
            )
            assert [(x["row"], x["username"]) for x in lines] == [(1, names[0])]
            retry = [x for x in _lines(worker, campaign_id) if "retrying" in x["message"]]
            assert [(x["row"], x["username"]) for x in retry] == [(2, names[1])]
        finally:
            worker.stop()
