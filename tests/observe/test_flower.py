"""A real ``courier flower`` on the stack: it tells the truth, behind auth, read-only."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_until
from tests.support.processes import courier, courier_command, serving, start_campaign
from tests.support.stack import Stack
from tests.support.synthetic import CLIENT_ID
from worker.contrib.redisserver import free_port

USER, PASSWORD = "ops", "flower-s3cret"


def _get(url: str, *, auth: bool = True, method: str = "GET") -> tuple[int, bytes]:
    headers = {}
    if auth:
        pair = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def flower_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``courier flower --port P`` on the stack's Redis; its base URL."""
    folder = tmp_path_factory.mktemp("flower")
    port = free_port()
    env = {**stack.env, "COURIER_FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"}
    log_path = folder / "flower.log"
    args = ["flower", "--port", str(port), "--db", str(folder / "f.db")]
    with serving(args, env=env, log_path=log_path, health_path="/healthcheck", port=port) as url:
        yield url
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert PASSWORD not in text
    # The stack runs COURIER_LOG_FORMAT=json: Flower's lines are JSON objects too.
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    assert all(line.startswith("{") for line in lines), [
        line for line in lines if not line.startswith("{")
    ][:5]
    assert (folder / "f.db").exists() or list(folder.glob("f.db*"))  # state saved at stop


def _tasks(url: str) -> dict[str, dict[str, Any]]:
    status, body = _get(f"{url}/api/tasks")
    assert status == 200, body[:500]
    tasks: dict[str, dict[str, Any]] = json.loads(body)
    return tasks


def test_flower_shows_a_refused_job_as_failure_and_a_sent_one_as_success(
    stack: Stack, flower_url: str
) -> None:
    # Flower asks the workers for events when it starts; give it a moment to be heard.
    wait_until(
        lambda: json.loads(_get(f"{flower_url}/api/workers")[1] or b"{}"),
        timeout_seconds=30,
        what="Flower to see the worker",
    )
    sent, refused = stack.submit("user0000060", "nobody-at-all")
    assert stack.wait_terminal(sent) == "succeeded"
    assert stack.wait_terminal(refused) == "failed"

    def both() -> dict[str, dict[str, Any]] | None:
        tasks = _tasks(flower_url)
        states = {tasks.get(job, {}).get("state") for job in (sent, refused)}
        return tasks if states == {"SUCCESS", "FAILURE"} else None

    tasks = wait_until(both, timeout_seconds=30, what="both jobs final in Flower")
    assert tasks[sent]["state"] == "SUCCESS"
    assert tasks[sent]["result"] == "'succeeded'"
    assert tasks[refused]["state"] == "FAILURE"
    assert "UserNotFoundException" in tasks[refused]["exception"]
    assert "JobFailedError" in tasks[refused]["exception"]
    assert tasks[refused]["retries"] == 0


def test_campaign_tasks_show_their_campaign_id(
    stack: Stack, flower_url: str, tmp_path: Path
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("user0000070\nuser0000071\n", encoding="utf-8")
    campaign_id = start_campaign(stack.env, users, CLIENT_ID)

    def campaign_tasks() -> list[dict[str, Any]]:
        return [
            task
            for task in _tasks(flower_url).values()
            if str(task.get("name", "")).startswith("courier.campaign")
            and campaign_id in str(task.get("args"))
        ]

    found = wait_until(campaign_tasks, timeout_seconds=30, what="campaign tasks in Flower")
    assert all(task["state"] in ("RECEIVED", "STARTED", "SUCCESS") for task in found), found


def _chunks(url: str, campaign_id: str, state: str) -> list[dict[str, Any]]:
    """The campaign's chunk tasks Flower lists in ``state`` (what its state filter asks)."""
    status, body = _get(f"{url}/api/tasks?state={state}&taskname=courier.campaign_chunk")
    assert status == 200, body[:500]
    return [task for task in json.loads(body).values() if campaign_id in str(task.get("args"))]


def test_a_chunk_with_a_failed_row_is_in_flowers_failure_filter_and_the_campaign_goes_on(
    stack: Stack, flower_url: str, tmp_path: Path
) -> None:
    """The chunk task raises RowsFailedError after recording its rows: FAILURE in Flower
    (``/api/tasks?state=FAILURE``, what the Failed filter asks), its exception the row
    summary; the campaign itself ends ``done`` with the row counted ``failed``."""
    users = tmp_path / "users.txt"
    users.write_text("user0000072\nnobody-in-this-pool\nuser0000073\n", encoding="utf-8")
    campaign_id = start_campaign(stack.env, users, CLIENT_ID)

    (chunk,) = wait_until(
        lambda: _chunks(flower_url, campaign_id, "FAILURE"),
        timeout_seconds=60,
        what="the chunk in Flower's failures",
    )
    assert chunk["exception"] == (
        "RowsFailedError('3 rows: 2 succeeded, 1 failed (UserNotFoundException)')"
    )
    assert chunk["retries"] == 0
    status = courier("campaign", "status", campaign_id, "--json", env=stack.env)
    document = json.loads(status.stdout)
    assert document["state"] == "done"
    assert {k: v for k, v in document["counts"].items() if v} == {"succeeded": 2, "failed": 1}


def test_a_chunk_whose_rows_all_succeeded_summarises_them_as_its_result(
    stack: Stack, flower_url: str, tmp_path: Path
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("user0000074\nuser0000075\n", encoding="utf-8")
    campaign_id = start_campaign(stack.env, users, CLIENT_ID)

    (chunk,) = wait_until(
        lambda: _chunks(flower_url, campaign_id, "SUCCESS"),
        timeout_seconds=60,
        what="the chunk's success",
    )
    assert chunk["result"] == "'2 rows: 2 succeeded'"


def test_flower_wants_auth_everywhere_but_the_health_check(flower_url: str) -> None:
    for path in ("/", "/metrics", "/api/tasks", "/tasks", "/api/workers"):
        assert _get(f"{flower_url}{path}", auth=False)[0] == 401, path
    status, body = _get(f"{flower_url}/metrics")
    assert status == 200
    assert b"flower_events_total" in body
    assert _get(f"{flower_url}/healthcheck", auth=False) == (200, b"OK")


def test_flower_is_read_only(flower_url: str) -> None:
    for path in (
        "/api/task/async-apply/courier.resend_confirmation_code",
        "/api/task/send-task/courier.resend_confirmation_code",
        "/api/task/apply/courier.resend_confirmation_code",
        "/api/task/revoke/0123",
        "/api/task/abort/0123",
        "/api/task/rate-limit/courier.resend_confirmation_code",
        "/api/worker/shutdown/observed@host",
        "/api/worker/pool/restart/observed@host",
    ):
        status, _ = _get(f"{flower_url}{path}", method="POST")
        assert status == 404, path


def test_flower_refuses_to_start_without_basic_auth(stack: Stack) -> None:
    env = {k: v for k, v in stack.env.items() if k != "COURIER_FLOWER_BASIC_AUTH"}
    done = subprocess.run(
        [*courier_command(), "flower", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "COURIER_FLOWER_BASIC_AUTH" in done.stderr


def test_dev_flower_listens_on_loopback_only(stack: Stack) -> None:
    env = {k: v for k, v in stack.env.items() if k != "COURIER_FLOWER_BASIC_AUTH"}
    done = subprocess.run(
        [*courier_command(), "flower", "--dev", "--address", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "127.0.0.1" in done.stderr


def test_flower_options_size_the_history_from_the_budget() -> None:
    from worker.errors import ConfigurationError
    from worker.observe.flower import flower_argv, flower_options
    from worker.settings import load_settings

    settings = load_settings(rate_limit=40, flower_basic_auth="a:b,c:d")
    options = flower_options(settings)
    assert options["max_tasks"] == 40 * 86_400
    assert flower_options(settings, history_hours=1)["max_tasks"] == 40 * 3600
    assert options["basic_auth"] == ["a:b", "c:d"]
    assert "--basic_auth=a:b,c:d" in flower_argv(options)
    with pytest.raises(ConfigurationError, match="COURIER_FLOWER_BASIC_AUTH"):
        flower_options(load_settings(flower_basic_auth=""))
    with pytest.raises(ConfigurationError, match="COURIER_FLOWER_BASIC_AUTH"):
        load_settings(flower_basic_auth="no-colon-here")


def test_flower_reads_the_queue_lengths_from_the_broker(flower_url: str) -> None:
    # Flower builds its own broker client from the connection's URI: the workers'
    # transport named by class gave it a scheme it refused (404) until Flower got kombu's
    # plain Redis transport.
    status, body = _get(f"{flower_url}/api/queues/length")
    assert status == 200, body[:500]
    names = {queue["name"] for queue in json.loads(body)["active_queues"]}
    assert {"interactive", "bulk"} <= names
