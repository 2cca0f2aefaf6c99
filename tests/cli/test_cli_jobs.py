"""``courier resend``, ``verify-attribute`` and ``status``: one JSON document with --json."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from worker.cli import app

pytestmark = pytest.mark.usefixtures("celery_worker")

runner = CliRunner()


def _run(*args: str, stdin: str | None = None) -> tuple[int, Any]:
    result = runner.invoke(app, list(args), input=stdin)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON document on stdout
    return result.exit_code, json.loads(lines[0])


def test_resend_wait_json(pool: Any) -> None:
    username = pool.add_user(f"cli-{uuid.uuid4().hex[:8]}")
    code, document = _run(
        "resend", "--client-id", pool.client_id, "--username", username, "--wait", "--json"
    )
    assert code == 0
    assert document["state"] == "succeeded"
    assert document["delivery"]["DeliveryMedium"] == "EMAIL"
    code, again = _run("status", document["id"], "--json")
    assert code == 0
    assert again == document


def test_resend_without_wait_answers_at_once(pool: Any) -> None:
    code, document = _run(
        "resend", "--client-id", pool.client_id, "--username", "someone", "--json"
    )
    assert code == 0
    assert document["state"] in ("queued", "running", "succeeded", "failed")
    assert set(document) == {
        "id",
        "operation",
        "state",
        "attempts",
        "ambiguous",
        "redeliveries",
        "delivery",
        "error",
        "campaign_id",
        "principal",
        "created_at",
        "updated_at",
    }


def test_failed_job_with_wait_exits_1(pool: Any) -> None:
    code, document = _run(
        "resend", "--client-id", pool.client_id, "--username", "ghost", "--wait", "--json"
    )
    assert code == 1
    assert document["error"]["code"] == "UserNotFoundException"


def test_bad_input_is_a_json_error_and_exit_2(runtime: Any) -> None:
    code, document = _run("resend", "--client-id", "bad-id!", "--username", "u", "--json")
    assert code == 2
    assert document["error"]["type"] == "InvalidRequestError"
    assert document["error"]["message"].startswith("ClientId")


def test_verify_attribute_from_a_file_and_from_stdin(pool: Any, tmp_path: Path) -> None:
    username = pool.add_user(f"cli-{uuid.uuid4().hex[:8]}", confirmed=True)
    token = pool.access_token(username)
    token_file = tmp_path / "token.txt"
    token_file.write_text(token + "\n", encoding="utf-8")
    code, document = _run(
        "verify-attribute",
        "--attribute-name",
        "email",
        "--access-token-file",
        str(token_file),
        "--wait",
        "--json",
    )
    assert code == 0, document
    assert document["state"] == "succeeded"
    code, document = _run(
        "verify-attribute",
        "--attribute-name",
        "email",
        "--access-token-stdin",
        "--wait",
        "--json",
        stdin=token,
    )
    assert code == 0, document
    assert token not in json.dumps(document)


def test_verify_attribute_refuses_no_or_two_token_sources(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify-attribute", "--attribute-name", "email"])
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", " ").split())  # rich wraps the message in a box
    assert "exactly one of --access-token-file or --access-token-stdin" in flat
    result = runner.invoke(app, ["verify-attribute", "--attribute-name", "email", "--token", "x"])
    assert result.exit_code == 2  # there is no way to pass a token on the command line


def test_status_of_an_unknown_job(runtime: Any) -> None:
    code, document = _run("status", "no-such-job", "--json")
    assert code == 2  # as for an unknown campaign
    assert document["error"]["type"] == "JobNotFoundError"
