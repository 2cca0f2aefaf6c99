"""The CLI does what the operator meant, on real ``courier`` processes.

Each test runs ``python -m worker.cli`` subprocesses against a private redis-server of its
own (so no session worker takes the work: what a job or campaign does is up to the test)
and the session emulator: SIGINT/SIGTERM during ``campaign start`` and ``resend --wait``,
``--watch`` through a pipe and through a Redis outage, ``report --out`` that never cuts a
file, and exit status 2 for unknown ids and for controls that mean nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import pytest
import redis

from tests.support.synthetic import SEAL_KEY
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "intent0client000000000001"


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    """A private Redis with an AOF (a restart keeps every key); nobody consumes its queues."""
    with PrivateRedis(appendonly=True) as made:
        yield made


def _env(server: PrivateRedis, emulator: EmulatorHandle, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("COURIER_")}
    return {
        **keep,
        "COURIER_REDIS_URL": server.url,
        "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
        "COURIER_COGNITO_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **extra,
    }


def _courier(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _campaign_ids(client: redis.Redis) -> list[str]:
    members = cast("list[bytes]", client.zrange("courier:campaigns", 0, -1))
    return [m.decode() for m in members]


def _wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.05)


def _one_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout  # exactly one JSON document
    document: dict[str, Any] = json.loads(lines[0])
    return document


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_campaign_start_cancels_the_campaign_being_created(
    server: PrivateRedis, emulator: EmulatorHandle, tmp_path: Path, signum: int
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("".join(f"user{n:07d}\n" for n in range(60_000)), encoding="utf-8")
    env = _env(server, emulator)
    client = redis.Redis.from_url(server.url)
    # tiny chunks: storing 60,000 rows takes thousands of round trips, time to interrupt
    start = _spawn(
        env, "campaign", "start", "--client-id", CLIENT_ID, "--file", str(users),
        "--chunk-size", "5", "--json",
    )  # fmt: skip
    try:
        _wait_until(lambda: _campaign_ids(client), 60, "the campaign was created")
        start.send_signal(signum)
        out, err = start.communicate(timeout=30)
    finally:
        if start.poll() is None:
            start.kill()
    assert start.returncode == 130, err
    document = _one_json(out)
    (campaign_id,) = _campaign_ids(client)
    assert document["id"] == campaign_id
    assert document["interrupted"] is True
    assert document["state"] == "cancelled"
    stored = int(client.hget(f"courier:campaign:{campaign_id}:meta", "total") or 0)
    assert stored < 60_000, "the start was not interrupted: every row was stored"
    later = _one_json(_courier(env, "campaign", "status", campaign_id, "--json").stdout)
    assert later["state"] == "cancelled"
    assert later["counts"]["queued"] == 0  # nothing is left to send
    client.close()


def _interrupt_the_wait(env: dict[str, str], client: redis.Redis, *args: str) -> str:
    """Run ``courier <args> --wait --json``, SIGINT it once its job is submitted; the job id.

    Asserts exit 130, one JSON document marked ``interrupted`` and the job still queued
    (no worker here) both in that document and for ``courier status`` afterwards.
    """
    waiting = _spawn(env, *args, "--wait", "--json")
    try:
        _wait_until(
            lambda: (
                waiting.poll() is not None
                or any(client.scan_iter(match="courier:job:*", count=100))
            ),
            60,
            "job submitted",
        )
        assert waiting.poll() is None, waiting.communicate()
        time.sleep(0.5)  # inside the wait
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 130, err
    document = _one_json(out)
    assert document["interrupted"] is True
    assert document["state"] == "queued"  # no worker here: it waits for one
    later = _one_json(_courier(env, "status", document["id"], "--json").stdout)
    assert later["state"] == "queued"  # the job goes on
    return str(document["id"])


def test_a_signal_during_resend_wait_prints_the_job_and_leaves_it_to_the_workers(
    server: PrivateRedis, emulator: EmulatorHandle
) -> None:
    env = _env(server, emulator)
    client = redis.Redis.from_url(server.url)
    first = _interrupt_the_wait(
        env, client, "resend", "--client-id", CLIENT_ID, "--username", "alice"
    )
    text = _spawn(env, "resend", "--client-id", CLIENT_ID, "--username", "bob", "--wait")
    _wait_until(
        lambda: len(list(client.scan_iter(match="courier:job:*", count=100))) > 1,
        60,
        "the second job submitted",
    )
    time.sleep(0.5)
    text.send_signal(signal.SIGTERM)
    _, err = text.communicate(timeout=30)
    assert text.returncode == 130
    said = " ".join(err.split())
    second = next(
        key.decode().rsplit(":", 1)[-1]
        for key in client.scan_iter(match="courier:job:*", count=100)
        if key.decode().rsplit(":", 1)[-1] != first
    )
    assert f"job {second} is queued and goes on; follow it with: courier status {second}" in said
    client.close()


def test_a_signal_during_verify_attribute_wait_prints_the_job_and_leaves_it_to_the_workers(
    server: PrivateRedis, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    pool = emulator.make_pool("intent-verify")
    pool.add_user("carol", confirmed=True)
    token_file = tmp_path / "token"
    token_file.write_text(pool.access_token("carol"), encoding="utf-8")
    env = _env(server, emulator, COURIER_SEAL_KEY=SEAL_KEY)
    client = redis.Redis.from_url(server.url)
    try:
        _interrupt_the_wait(
            env,
            client,
            "verify-attribute",
            "--attribute-name",
            "email",
            "--access-token-file",
            str(token_file),
        )
    finally:
        client.close()


def test_unknown_job_and_campaign_ids_exit_2_alike(
    server: PrivateRedis, emulator: EmulatorHandle
) -> None:
    env = _env(server, emulator)
    job = _courier(env, "status", "0123456789abcdef", "--json")
    campaign = _courier(env, "campaign", "status", "0123456789abcdef", "--json")
    assert (job.returncode, campaign.returncode) == (2, 2)
    assert _one_json(job.stdout)["error"]["type"] == "JobNotFoundError"
    assert _one_json(campaign.stdout)["error"]["type"] == "CampaignNotFoundError"


def test_report_of_a_wrong_id_leaves_the_file_alone_and_dash_is_stdout(
    server: PrivateRedis, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = _env(server, emulator)
    keep = tmp_path / "keep.csv"
    keep.write_text("precious,report\n1,2\n", encoding="utf-8")
    wrong = _courier(env, "campaign", "report", "0123456789abcdef", "--out", str(keep))
    assert wrong.returncode == 2
    assert keep.read_text(encoding="utf-8") == "precious,report\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]  # no temporary left
    users = tmp_path / "users.txt"
    users.write_text("alice\nbob\n,\n", encoding="utf-8")
    started = _one_json(
        _courier(
            env, "campaign", "start", "--client-id", CLIENT_ID, "--file", str(users), "--json"
        ).stdout
    )
    dash = subprocess.run(
        [sys.executable, "-m", "worker.cli", "campaign", "report", started["id"], "--out", "-"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert dash.returncode == 0, dash.stderr
    assert dash.stdout.splitlines()[0].startswith("username,state,")
    assert {line.split(",")[0] for line in dash.stdout.splitlines()[1:3]} == {"alice", "bob"}
    assert not (tmp_path / "-").exists()
    assert "report: 3 rows" in dash.stderr
    good = _courier(env, "campaign", "report", started["id"], "--out", str(keep), "--json")
    assert _one_json(good.stdout)["rows"] == 3
    assert keep.read_text(encoding="utf-8").startswith("username,state,")


def test_controls_that_mean_nothing_and_contradictory_options_exit_2(
    server: PrivateRedis, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = _env(server, emulator)
    users = tmp_path / "users.txt"
    users.write_text("alice\n", encoding="utf-8")
    both = _courier(
        env, "campaign", "start", "--client-id", CLIENT_ID, "--file", str(users),
        "--filter", 'email ^= "a"', "--json",
    )  # fmt: skip
    assert both.returncode == 2
    refused = _one_json(both.stdout)["error"]
    assert "--filter" in refused["message"]
    assert refused["type"] == "UsageError"  # as for a command line that does not parse
    assert not _campaign_ids(redis.Redis.from_url(server.url))  # nothing was created
    start = ["campaign", "start", "--client-id", CLIENT_ID, "--file", str(users), "--json"]
    campaign_id = _one_json(_courier(env, *start).stdout)["id"]
    resume = _courier(env, "campaign", "resume", campaign_id, "--json")
    assert resume.returncode == 2
    assert "is running: resume applies only to a campaign that is paused" in resume.stdout
    assert _courier(env, "campaign", "pause", campaign_id).returncode == 0
    again = _courier(env, "campaign", "pause", campaign_id)
    assert again.returncode == 2
    assert "is paused: pause applies only" in " ".join(again.stderr.split())
    assert _courier(env, "campaign", "cancel", campaign_id).returncode == 0
    for action in ("pause", "resume", "cancel"):
        result = _courier(env, "campaign", action, campaign_id, "--json")
        assert result.returncode == 2, action
        error = _one_json(result.stdout)["error"]
        assert error["type"] == "CampaignStateError"
        assert f"is cancelled: {action} applies only" in error["message"]


def test_campaign_ids_are_never_cut_in_the_list(
    server: PrivateRedis, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = _env(server, emulator, COLUMNS="80")
    users = tmp_path / "users.txt"
    users.write_text("alice\n", encoding="utf-8")
    name = "a rather long campaign name that wants the whole width of the terminal"
    start = ["campaign", "start", "--client-id", CLIENT_ID, "--file", str(users), "--json"]
    campaign_id = _one_json(_courier(env, *start, "--name", name).stdout)["id"]
    listed = _courier(env, "campaign", "list")
    assert listed.returncode == 0, listed.stderr
    assert campaign_id in listed.stdout, listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80


def _lines_within(stream: IO[str], count: int, timeout: float) -> list[tuple[float, str]]:
    """``count`` lines read from ``stream`` with the time each arrived."""
    got: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {got} within {timeout} s"
        line = stream.readline()
        if line:
            got.append((time.monotonic(), line))
    return got


def test_watch_through_a_pipe_prints_lines_as_it_goes_and_waits_out_a_redis_outage(
    server: PrivateRedis, emulator: EmulatorHandle, tmp_path: Path
) -> None:
    env = _env(server, emulator, COURIER_REDIS_WAIT_MAX_SECONDS="8")
    users = tmp_path / "users.txt"
    users.write_text("alice\nbob\n", encoding="utf-8")
    start = ["campaign", "start", "--client-id", CLIENT_ID, "--file", str(users), "--json"]
    campaign_id = _one_json(_courier(env, *start).stdout)["id"]
    watch = _spawn(env, "campaign", "status", campaign_id, "--watch")  # stdout: a pipe
    try:
        assert watch.stdout is not None
        assert watch.stderr is not None
        lines = _lines_within(watch.stdout, 2, 30)
        assert f"campaign {campaign_id} running 0/2" in lines[0][1]
        assert 4.0 <= lines[1][0] - lines[0][0] <= 7.0  # a line every 5 s, not only at the end
        server.restart(down_seconds=3.0)  # an outage shorter than the 8 s workers wait
        said = _lines_within(watch.stderr, 1, 15)[0][1]
        assert "Redis unreachable; waiting up to 8 s" in said
        _lines_within(watch.stdout, 1, 15)  # going on after Redis came back
        assert watch.poll() is None
        assert _courier(env, "campaign", "cancel", campaign_id).returncode == 0
        out, err = watch.communicate(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    assert "cancelled" in out
    second = _one_json(_courier(env, *start).stdout)["id"]
    watch = _spawn(env, "campaign", "status", second, "--watch", "--json")
    try:
        assert watch.stderr is not None
        _lines_within(watch.stderr, 1, 30)  # under --json the lines go to stderr
        server.stop()  # gone for longer than the 8 s: the watch gives up with exit 3
        stopped = time.monotonic()
        out, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 3, err
    assert time.monotonic() - stopped >= 8.0
    assert _one_json(out)["error"]["type"] == "BrokerUnavailable"
