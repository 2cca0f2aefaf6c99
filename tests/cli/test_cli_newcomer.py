"""What a newcomer meets first, through the real ``courier`` entry point at 80 columns."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import typer
from typer.testing import CliRunner

from tests.support.backends import REDIS_URL, make_config
from tests.support.polling import wait_until
from tests.support.processes import ROOT, courier, courier_command, read_json
from worker.cli import app
from worker.contrib.processes import stop_process
from worker.contrib.redisserver import PrivateRedis, free_port
from worker.ratelimit import Category, Priority, RedisRateLimiter


def _env(**extra: str) -> dict[str, str]:
    """A newcomer's terminal: 80 columns, the test Redis."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "TERM": "xterm",
        "COLUMNS": "80",
        "COURIER_REDIS_URL": REDIS_URL,
        **extra,
    }


def _group(path: tuple[str, ...]) -> Any:
    group: Any = typer.main.get_command(app)  # typer's vendored click: no isinstance
    for name in path:
        group = group.commands[name]
    return group


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _words(text: str) -> str:
    return " ".join(text.split())


def _squeezed(text: str) -> str:
    """``text`` without any white space (help wraps lines, and may break at a hyphen)."""
    return "".join(text.split())


@pytest.mark.parametrize(
    "path", [(), ("limit",), ("campaign",)], ids=["courier", "limit", "campaign"]
)
def test_command_lists_show_each_whole_summary(path: tuple[str, ...]) -> None:
    result = courier(*path, "--help", env=_env())
    assert result.returncode == 0, result.stderr
    listing = _squeezed(result.stdout.split("Commands:", 1)[1])
    for name, command in _group(path).commands.items():
        first_paragraph = _squeezed((command.help or "").split("\n\n", 1)[0])
        assert name + first_paragraph in listing, (name, result.stdout)
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout


def test_a_summary_with_periods_inside_is_not_cut() -> None:
    result = courier("--help", env=_env())
    assert result.returncode == 0, result.stderr
    assert (
        "api Serve the HTTP front (/?Action=..., /jobs, /campaigns, /ui/, /openapi.json, "
        "/healthz)." in _words(result.stdout)
    )


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("api", "unless --without-token-operations (or --dev) is given"),
        ("flower", "Refuses to start without COURIER_FLOWER_BASIC_AUTH unless --dev is given."),
    ],
)
def test_help_shows_no_rst_markup(command: str, says: str) -> None:
    result = courier(command, "--help", env=_env())
    assert result.returncode == 0, result.stderr
    assert "``" not in result.stdout
    assert _squeezed(says) in _squeezed(result.stdout)


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "courier" for p in COMMANDS])
def test_no_help_text_holds_rst_backticks(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "``" not in result.output


def test_limit_show_at_80_columns_is_a_table_per_category_that_cuts_nothing(
    real_redis: redis.Redis,
) -> None:
    limiter = RedisRateLimiter(
        real_redis, make_config(30.0, cooldown_seconds=0.05), region="ap-southeast-2"
    )
    limiter.report_throttle(Category.USER_RESOURCE_READ)  # as in test_limit_cli: a quota seen
    for _ in range(4):
        limiter.acquire(Category.USER_RESOURCE_READ, priority=Priority.BULK, timeout_seconds=1)
    for _ in range(3):
        limiter.report_throttle(Category.USER_RESOURCE_READ)
    result = courier("limit", "show", env=_env(COURIER_COGNITO_REGION="eu-central-1"))
    assert result.returncode == 0, result.stderr
    shown = result.stdout
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    assert "…" not in shown, shown
    titles = [line.strip() for line in shown.splitlines() if "calls/s per Region" in line]
    assert [title.split(":", 1)[0] for title in titles] == ["UserResourceRead", "UserList"]
    for region in ("ap-southeast-2", "eu-central-1"):
        assert shown.count(region) == 2, shown  # one row in each table, whole
    words = shown.split()
    assert "(never)" in words  # throttles: how many, and when the last one was
    assert "(below" in words
    assert "budget)" in words


def test_campaign_list_at_80_columns_keeps_ids_and_states_whole(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("alice\nbob\n", encoding="utf-8")
    name = "a rather long campaign name that wants the whole width of the terminal"
    with PrivateRedis() as server:  # nobody consumes its queues: the campaigns stay running
        env = _env(COURIER_REDIS_URL=server.url)
        ids = []
        for each in (name, "spring"):
            start = ["campaign", "start", "--client-id", "web", "--file", str(users)]
            ids.append(read_json(courier(*start, "--name", each, "--json", env=env).stdout)["id"])
        listed = courier("campaign", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert all(len(line) <= 80 for line in listed.stdout.splitlines()), listed.stdout
    words = listed.stdout.split()
    for campaign_id in ids:
        assert campaign_id in words, listed.stdout
    assert words.count("running") == 2, listed.stdout
    for header in ("id", "name", "state", "progress", "rate", "created"):
        assert header in words, listed.stdout  # headers wrap at spaces, never mid-word
    assert "succeeded," in words
    assert set(name.split()) <= set(words), listed.stdout  # the name wraps at its spaces


def _readme_block(after: str, page: str = "README.md") -> str:
    text = (ROOT / page).read_text(encoding="utf-8")
    start = text.index(after)
    opening = text.index("```", start)
    return text[text.index("\n", opening) + 1 : text.index("```\n", opening + 3)]


def test_the_readme_status_example_holds_the_documents_members() -> None:
    shown = json.loads(_readme_block("Every job has a status document"))
    front = json.loads(_readme_block("A `202` answer:", "docs/api.md"))
    with PrivateRedis() as server:  # nobody consumes its queues: the job stays queued
        result = courier(
            "resend", "--client-id", "web", "--username", "alice", "--json",
            env=_env(COURIER_REDIS_URL=server.url),
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = read_json(result.stdout)
    assert list(shown) == list(document)
    assert list(front) == list(document)  # the HTTP front's is the same document
    assert document["principal"] is None  # the CLI's jobs have none, as the README says


def test_the_readme_emulator_section_runs_as_written(tmp_path: Path) -> None:
    """Each line of "Trying it against the emulator" in order: the emulator on a free port
    instead of 9229, a private Redis instead of the one at localhost:6379."""
    lines = [shlex.split(line, comments=True) for line in
             _readme_block("## Trying it against the emulator").splitlines()]  # fmt: skip
    port = str(free_port())
    env = _env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    started: list[subprocess.Popen[bytes]] = []
    seen: list[str] = []
    job_id = ""
    with PrivateRedis() as server:
        try:
            for line in (words for words in lines if words):
                words = [word.replace("9229", port) for word in line]
                if words[0] == "export":
                    name, value = words[1].split("=", 1)
                    env[name] = server.url if name == "COURIER_REDIS_URL" else value
                    assert name != "COURIER_REDIS_URL" or value.startswith("redis://")
                elif words[:2] in (["courier", "emulator"], ["courier", "worker"]):
                    command = [*courier_command(), *words[1:]]
                    with (tmp_path / f"{words[1]}.log").open("ab") as log:
                        started.append(
                            subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)
                        )
                    _wait_for(words[1], tmp_path / f"{words[1]}.log", port)
                elif words[0] == "courier":
                    args = [job_id if word == "JOB_ID" else word for word in words[1:]]
                    result = courier(*args, env=env, timeout_seconds=120)
                    assert result.returncode == 0, (words, result.stdout, result.stderr)
                    document = read_json(result.stdout)
                    assert document["state"] == "succeeded", document
                    assert document["delivery"]["DeliveryMedium"] == "EMAIL", document
                    job_id = document["id"]
                elif words[0] == "curl":
                    with urllib.request.urlopen(words[1], timeout=10) as answer:
                        deliveries = json.load(answer)["deliveries"]
                    assert [d["username"] for d in deliveries] == ["user0000001"], deliveries
                    assert deliveries[0]["code"]
                else:
                    pytest.fail(f"no step for {words}: add one to this test")
                seen.append(words[0] if words[0] != "courier" else words[1])
        finally:
            for process in reversed(started):
                stop_process(process)
    assert seen == ["emulator", "export", "export", "worker", "resend", "status", "curl"]


def _wait_for(what: str, log: Path, port: str) -> None:
    if what == "emulator":
        url = f"http://127.0.0.1:{port}/_emulator/health"
        wait_until(lambda: _answers(url), timeout_seconds=60, what="the emulator")
    else:
        wait_until(lambda: " ready." in log.read_text(errors="replace"), timeout_seconds=60,
                   what=f"courier worker ({log})")  # fmt: skip


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def test_a_redis_url_without_a_scheme_says_how_to_write_it() -> None:
    env = _env(COURIER_REDIS_URL="127.0.0.1:6390")  # refused before any connection
    result = courier("status", "0f6f0c4e", "--json", env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    error = read_json(result.stdout)["error"]
    assert error["type"] == "ConfigurationError"
    assert error["message"].startswith(
        "invalid configuration: COURIER_REDIS_URL has no scheme: write redis://host:port/db"
    )
    assert "Value error" not in error["message"]
    assert error["message"].count("COURIER_REDIS_URL") == 1
    shown = courier("status", "0f6f0c4e", env=env)
    assert shown.returncode == 2
    assert "COURIER_REDIS_URL has no scheme" in _words(shown.stderr)


def test_a_dry_run_says_plainly_that_nothing_was_stored_or_sent(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("alice\nbob\n", encoding="utf-8")
    start = ["campaign", "start", "--client-id", "web", "--file", str(users), "--dry-run"]
    with PrivateRedis() as server:
        env = _env(COURIER_REDIS_URL=server.url)
        shown = courier(*start, env=env)
        assert shown.returncode == 0, shown.stderr
        assert "dry run: nothing was stored and nothing was sent" in _words(shown.stdout)
        assert "without --dry-run to start it" in _words(shown.stdout)
        assert "not created (dry run)" in _words(shown.stdout)
        assert "done" not in _words(shown.stdout)  # the table never says a dry run is done
        as_json = courier(*start, "--json", env=env)
        assert as_json.returncode == 0, as_json.stderr
        document = read_json(as_json.stdout)  # one JSON document, no more
        assert document["dry_run"] is True
        assert document["state"] == "done"  # the contract's enum (DESIGN.md); id is null
        stored = redis.Redis.from_url(server.url)
        try:
            assert stored.keys("courier:campaign*") == []
        finally:
            stored.close()


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["limit", "set", "0"], "InvalidRate"),
        (["limit", "show", "--region", "Europe"], "InvalidRegion"),
        (["limit", "reset", "--category", "nope"], "InvalidCategory"),
    ],
)
def test_limit_errors_have_the_shape_of_every_command(args: list[str], kind: str) -> None:
    result = courier(*args, "--json", env=_env())
    assert result.returncode == 2, (result.stdout, result.stderr)
    document = read_json(result.stdout)
    assert list(document) == ["error"]
    assert list(document["error"]) == ["type", "message"]
    assert document["error"]["type"] == kind
    assert result.stderr == ""  # with --json the document says it all
