"""A full Redis (noeviction at maxmemory) is an outage: no worker exits, producers exit 3.

A real ``courier worker`` holds one job in a 6-s call when Redis's ``maxmemory`` is set
below what it uses (``CONFIG SET maxmemory``), so every write is refused with ``OOM``
while reads go on. Meanwhile producers run: ``courier resend --json`` and ``courier
campaign start --json`` must exit 3 with one JSON document (``BrokerUnavailable``, "Redis
is full (maxmemory)") and leave nothing behind. The call ends while Redis is still full:
the worker waits to record it. Once memory is freed (``maxmemory 0``) the job ends
``succeeded`` with exactly one call, and the worker never exited. Each of the worker's
paths that met the episode logs one WARNING when it starts and one when it ends (counted
per logger), none an ERROR or a traceback; each producer at most one WARNING.

Twice: 9 s full within a 60-s lease, and 26 s full past the default 15-s lease with a
second worker whose watchdog could take the job. Neither hands the job on: every
watchdog sees the episode (its write probe is refused) and leaves expired leases alone
for two heartbeats once Redis accepts writes, while the holder's heartbeat renews within
half a second (worker/liveness/watchdog.py). Past COURIER_REDIS_WAIT_MAX_SECONDS (30 s)
the job gives its work up by design, and the reaper sends it again.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support.brokerprocs import (
    produce,
    worker_env,
    workers,
)
from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import ROOT, courier_command
from tests.support.synthetic import CLIENT_ID
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis
from worker.status import StatusStore

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(240)]

SCENARIO = "Full Redis (noeviction at maxmemory) under a job in flight and producers"


class Episode(NamedTuple):
    """How long Redis stays full, against which lease, with how many workers."""

    lease_seconds: int
    full_seconds: int
    worker_count: int
    scenario: str


EPISODES = [
    pytest.param(Episode(60, 9, 1, SCENARIO), id="within-the-lease"),
    pytest.param(
        Episode(15, 26, 2, "Full Redis for longer than the lease (default 15 s), two workers"),
        id="past-the-lease",
    ),
]
_LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (.*)$")


def _start_json(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*courier_command(), *args, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish_json(process: subprocess.Popen[str]) -> tuple[int, dict[str, object], str]:
    out, err = process.communicate(timeout=60)
    document = json.loads(out) if out.strip() else {}
    return process.returncode, document, err


def _episode_lines(log: str) -> tuple[Counter[str], Counter[str]]:
    """Per logger, the lines saying Redis is full and those saying it answers again."""
    began, ended = Counter[str](), Counter[str]()
    for line in log.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        _, logger, message = match.groups()
        if "Redis is full (maxmemory)" in message:
            began[logger] += 1
        elif "answers again" in message:
            ended[logger] += 1
    return began, ended


@pytest.mark.parametrize("episode", EPISODES)
def test_a_full_redis_pauses_the_worker_and_refuses_producers_with_exit_3(
    synthetic_emulator: EmulatorHandle, tmp_path: Path, episode: Episode
) -> None:
    lease_seconds, full_seconds, worker_count, scenario = episode
    with PrivateRedis() as server:
        # The first episode keeps within a 60-s lease on a loaded machine (CLI producers
        # take 5-25 s to start there); the second outlasts the default lease.
        env = worker_env(
            server.url, synthetic_emulator.endpoint_url, COURIER_LEASE_SECONDS=str(lease_seconds)
        )
        admin = server.client()
        statuses = StatusStore(admin, ttl_seconds=3600)
        users = tmp_path / "users.txt"
        users.write_text("user0000101\nuser0000102\n", encoding="utf-8")
        with workers(worker_count, env, tmp_path) as started:
            synthetic_emulator.script(operation="ResendConfirmationCode", errors=["slow:6000"])
            [job_id] = produce(env, ["user0000001"])
            wait_until(
                lambda: statuses.get(job_id)["state"] == "running",
                timeout_seconds=15,
                what="the job running",
            )
            keys_before = set(admin.keys())
            used = int(admin.info("memory")["used_memory"])
            admin.config_set("maxmemory", str(used // 2))
            full_at = time.monotonic()

            producers = [
                _start_json(env, "resend", "--client-id", CLIENT_ID, "--username", "user0000099"),
                _start_json(
                    env, "campaign", "start", "--client-id", CLIENT_ID, "--file", str(users)
                ),
            ]
            results = [_finish_json(process) for process in producers]
            producers_seconds = time.monotonic() - full_at
            keys_while_full = set(admin.keys())
            # The 6-s call ends while Redis is still full: the outcome waits to be recorded.
            wait_until(
                lambda: time.monotonic() - full_at > full_seconds,
                timeout_seconds=full_seconds + 15,
                what=f"{full_seconds} s",
            )
            episode_seconds = time.monotonic() - full_at
            state_while_full = statuses.get(job_id)["state"]
            alive_while_full = all(worker.alive for worker in started)
            admin.config_set("maxmemory", "0")
            freed_at = time.monotonic()
            wait_until(
                lambda: statuses.get(job_id)["state"] == "succeeded",
                timeout_seconds=30,
                what="the job in flight to succeed once memory is freed",
            )
            done_seconds = time.monotonic() - freed_at
            [after] = produce(env, ["user0000002"])
            wait_until(
                lambda: statuses.get(after)["state"] == "succeeded",
                timeout_seconds=30,
                what="a new job after the episode",
            )
            # Each path says "answers again" at its next use of Redis: the watchdog at its
            # next period (2 s), the heartbeat at its next renewal. Give them that long.
            settled_by = time.monotonic() + 15
            while True:
                episodes = [_episode_lines(worker.log()) for worker in started]
                if all(e == b for b, e in episodes) or time.monotonic() > settled_by:
                    break
                time.sleep(0.2)
            exited = not all(worker.alive for worker in started)
            logs = [worker.log() for worker in started]
    calls = Counter(d["username"] for d in synthetic_emulator.deliveries())
    refused = [code == 3 for code, _, _ in results]
    record(scenario, "worker exits", int(exited), target="0", met=not exited)
    record(
        scenario,
        "producers exiting 3 with the cause",
        f"{sum(refused)}/{len(results)}",
        target="all",
        met=all(refused),
    )
    record(
        scenario,
        "calls of the job in flight",
        calls["user0000001"],
        target="1",
        met=calls["user0000001"] == 1,
    )
    record(
        scenario, "seconds from memory freed to the job recorded succeeded", round(done_seconds, 1)
    )
    record(scenario, f"seconds Redis was full (lease {lease_seconds} s)", round(episode_seconds, 1))
    record(scenario, "seconds until both producers had exited", round(producers_seconds, 1))

    if lease_seconds > full_seconds:
        assert episode_seconds < lease_seconds - 5, (
            "the machine was too slow to keep the episode within the lease"
        )
    else:
        assert episode_seconds > lease_seconds + 5  # the lease really ran out in Redis
    assert alive_while_full
    assert not exited, logs[0][-3000:]
    assert state_while_full == "running"  # nothing recorded while Redis refused writes
    for code, document, stderr in results:
        assert code == 3, (document, stderr[-2000:])
        error = document["error"]
        assert isinstance(error, dict)
        assert error["type"] == "BrokerUnavailable"
        assert "Redis is full (maxmemory)" in str(error["message"])
        assert "Traceback" not in stderr
    assert keys_while_full <= keys_before  # nothing (half) written by the producers
    assert calls["user0000001"] == 1
    assert calls["user0000099"] == 0
    lines = {"began": 0, "ended": 0}
    for log in logs:
        assert "Unrecoverable error" not in log
        assert "Traceback" not in log, log[-3000:]
        assert log.count("Redis is unreachable (Redis is full (maxmemory)") <= 3, log[-3000:]
        # One WARNING per path (watchdog, heartbeat, work waiting with patiently, the
        # consumer) when the episode starts and one when it ends, never one per retry.
        for line in log.splitlines():
            match = _LOG_LINE.match(line)
            if match is not None:
                assert match.group(1) in ("INFO", "WARNING", "DEBUG"), line  # no ERROR
        began, ended = _episode_lines(log)
        assert began, log[-3000:]  # the episode was met (the watchdog at least)
        assert all(n == 1 for n in began.values()), began
        assert ended == began, (began, ended)
        lines["began"] += sum(began.values())
        lines["ended"] += sum(ended.values())
    record(
        scenario,
        "worker WARNING lines for the episode (begin / end)",
        f"{lines['began']} / {lines['ended']}",
    )
    for _, _, stderr in results:
        assert sum(" WARNING " in line for line in stderr.splitlines()) <= 1, stderr[-2000:]
