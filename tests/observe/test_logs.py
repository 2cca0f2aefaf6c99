"""Structured logs: JSON lines with job and campaign ids, and no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support.polling import wait_until
from tests.support.processes import courier, start_campaign
from tests.support.stack import API_TOKEN, Stack
from tests.support.synthetic import CLIENT_ID
from worker.observe.logs import (
    bind_task_context,
    configure_logging,
    log_context,
    unbind_task_context,
)
from worker.observe.redact import mask_url, mask_urls_in, short_path


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:s3cret@cache.internal:6380/2", "rediss://app:***@cache.internal:6380/2"),
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
        ("redis://u:s3cret@[::1]:6379/0", "redis://u:***@[::1]:6379/0"),
        ("redis://localhost/0?password=s3cret&db=1", "redis://localhost/0?password=***&db=1"),
        ("redis://u:s3cret@host:notaport/0", "redis://***"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(url)


def test_mask_urls_in_text_and_short_paths() -> None:
    text = "Error 111 connecting to redis://:hunter2@10.0.0.5:6379/0. Connection refused."
    assert mask_urls_in(text) == (
        "Error 111 connecting to redis://:***@10.0.0.5:6379/0. Connection refused."
    )
    token = "eyJ" + "a" * 900
    assert token not in short_path(f"/{token}")
    assert short_path(f"/{token}").endswith(f"({len(token) + 1} chars)")
    assert short_path("/jobs/abc") == "/jobs/abc"


def _json_lines(configure: Any) -> list[dict[str, Any]]:
    stream = io.StringIO()
    configure_logging("json", logging.DEBUG, stream=stream)
    try:
        configure()
    finally:
        configure_logging("text", logging.WARNING)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_ids() -> None:
    log = logging.getLogger("worker.delivery")

    def emit() -> None:
        with log_context(job_id="job-1"):
            log.info("ResendConfirmationCode attempt %d failed (%s); retrying", 1, "X")
        with log_context(campaign_id="camp-1"):
            log.warning("cannot reach redis://:hunter2@cache:6379/0")
        try:
            raise RuntimeError("redis://app:hunter2@cache:6379/0 refused")
        except RuntimeError:
            log.exception("boom")
        log.info("no ids here")

    lines = _json_lines(emit)
    assert len(lines) == 4
    first = lines[0]
    assert set(first) >= {"time", "level", "logger", "message", "job_id"}
    assert first["level"] == "INFO"
    assert first["logger"] == "worker.delivery"
    assert first["job_id"] == "job-1"
    assert "campaign_id" not in first
    assert first["time"].endswith("Z")
    assert lines[1]["campaign_id"] == "camp-1"
    assert "hunter2" not in json.dumps(lines)
    assert "redis://:***@cache:6379/0" in lines[1]["message"]
    assert "RuntimeError" in lines[2]["exc_info"]
    assert "job_id" not in lines[3]


def test_task_arguments_bind_the_ids() -> None:
    from tasks.campaigns import campaign_chunk
    from tasks.jobs import resend_confirmation_code

    log = logging.getLogger("tests.observe")

    def emit() -> None:
        bind_task_context(resend_confirmation_code, (), {"job_id": "j-7", "client_id": "c"})
        log.info("about a job")
        bind_task_context(campaign_chunk, ("camp-9", "m:1"), {})
        log.info("about a campaign")
        unbind_task_context()
        log.info("about nothing")

    lines = [line for line in _json_lines(emit) if line["logger"] == "tests.observe"]
    assert lines[0]["job_id"] == "j-7"
    assert lines[1]["campaign_id"] == "camp-9"
    assert "job_id" not in lines[1]
    assert "job_id" not in lines[2]
    assert "campaign_id" not in lines[2]


def _worker_lines(stack: Stack) -> list[dict[str, Any]]:
    lines = []
    for raw in stack.worker.log().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_a_real_worker_logs_json_with_the_job_id_on_its_retry_line(stack: Stack) -> None:
    username = "user0000042"
    stack.emulator.handle.script(
        operation="ResendConfirmationCode",
        username=username,
        errors=["TooManyRequestsException"],
    )
    (job_id,) = stack.submit(username)
    assert stack.wait_terminal(job_id) == "succeeded"

    def about_job() -> list[dict[str, Any]]:
        lines = [line for line in _worker_lines(stack) if line.get("job_id") == job_id]
        return lines if any("succeeded" in line["message"] for line in lines) else []

    lines = wait_until(about_job, timeout_seconds=10, what="the job's lines in the worker log")
    retry = [line for line in lines if "retrying" in line["message"]]
    assert retry, lines
    assert retry[0]["message"] == (
        "ResendConfirmationCode attempt 1 failed (TooManyRequestsException); retrying"
    )
    assert {"time", "level", "logger", "message"} <= set(retry[0])
    # Celery's own lines about the job carry its id too (received, succeeded).
    assert any(line["logger"].startswith("celery") for line in lines), lines
    # Every line the worker wrote is one JSON object.
    text = [raw for raw in stack.worker.log().splitlines() if raw.strip()]
    assert all(raw.startswith("{") for raw in text), [r for r in text if not r.startswith("{")]


def test_the_front_logs_json_with_action_and_job_id_and_cuts_pasted_tokens(
    front_url: str, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    query = urlencode({"Action": "ResendConfirmationCode", "ClientId": CLIENT_ID, "Username": "u1"})
    request = urllib.request.Request(f"{front_url}/?{query}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
        job_id = json.loads(answer.read())["id"]
    token = "eyJraWQiOiJrMSIsImFsZyI6IlJTMjU2In0." + "s3cretpart" * 80
    for path in (f"/{token}", f"/jobs/{token}"):
        request = urllib.request.Request(f"{front_url}{path}", headers=headers)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=10)

    def lines() -> list[dict[str, Any]]:
        text = (tmp_path / "api.log").read_text(encoding="utf-8")
        found = [json.loads(raw) for raw in text.splitlines() if raw.startswith("{")]
        return found if sum(1 for f in found if f["logger"] == "worker.api") >= 3 else []

    found = wait_until(lines, timeout_seconds=10, what="the front's access lines")
    text = (tmp_path / "api.log").read_text(encoding="utf-8")
    assert all(raw.startswith("{") for raw in text.splitlines() if raw.strip()), text[-2000:]
    access = [line for line in found if line["logger"] == "worker.api"]
    submitted = [line for line in access if line.get("job_id") == job_id]
    assert submitted, access
    assert submitted[0]["action"] == "ResendConfirmationCode"
    assert submitted[0]["status"] == 202
    assert "s3cretpart" not in text
    assert all(len(line["message"]) < 200 for line in access)


def _job_line(job_id: str, kind: str, kwargs: str) -> dict[str, str]:
    """The ``data`` of Celery's line about one job task (its kwargs as their repr)."""
    names = {
        "verify": "courier.get_user_attribute_verification_code",
        "resend": "courier.resend_confirmation_code",
    }
    return {"id": job_id, "name": names[kind], "args": "()", "kwargs": kwargs}


def test_celery_task_lines_name_the_campaign_and_the_job() -> None:
    from worker.app import app

    app.set_current()  # as in a worker: the project's app, its task modules imported
    app.loader.import_default_modules()
    log = logging.getLogger("celery.worker.strategy")

    def emit() -> None:
        chunk = {"id": "t-1", "name": "courier.campaign_chunk", "args": "('camp-3', 'm:0')"}
        log.info("Task received", extra={"data": {**chunk, "kwargs": "{}"}})
        verify = "{'job_id': 'job-5', 'sealed_access_token': '<sealed>'}"
        log.info("Task received", extra={"data": _job_line("job-5", "verify", verify)})
        odd = {"id": "t-2", "name": "courier.campaign_chunk", "args": "<not a literal>"}
        log.info("Task received", extra={"data": odd})
        resend = "{'job_id': 'job-6', 'client_id': 'c1', 'username': 'alice.personal'}"
        log.info("Task received", extra={"data": _job_line("job-6", "resend", resend)})

    lines = [line for line in _json_lines(emit) if line["logger"] == "celery.worker.strategy"]
    assert lines[0]["campaign_id"] == "camp-3"
    assert "job_id" not in lines[0]
    assert lines[1]["job_id"] == "job-5"
    assert "campaign_id" not in lines[2]
    assert all("data" not in line for line in lines)
    # a username is personal data: on Celery's lines only with COURIER_LOG_USERNAMES (never)
    assert lines[3]["job_id"] == "job-6"
    assert "username" not in lines[3]
    assert all("alice.personal" not in json.dumps(line) for line in lines)


def test_a_real_worker_names_the_campaign_on_its_lines(stack: Stack, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("user0000090\nuser0000091\nuser0000092\n", encoding="utf-8")
    campaign_id = start_campaign(stack.env, users, CLIENT_ID)

    def finished() -> bool:
        status = courier("campaign", "status", campaign_id, "--json", env=stack.env)
        return bool(json.loads(status.stdout)["state"] == "done")

    wait_until(finished, timeout_seconds=60, what="the campaign done", interval_seconds=0.5)
    about = [
        line
        for line in _worker_lines(stack)
        if line.get("campaign_id") == campaign_id or campaign_id in line["message"]
    ]
    assert about
    assert all(line.get("campaign_id") == campaign_id for line in about), [
        line for line in about if line.get("campaign_id") != campaign_id
    ]
    # Celery's own lines about the campaign's tasks carry it too (received, succeeded).
    assert any(line["logger"].startswith("celery") for line in about), about
