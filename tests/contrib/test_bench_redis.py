"""The benchmarks' Redis: a private one by default, never a flush of someone else's data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from worker.contrib.redisserver import PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import os, redis\n"
    "from benchmarks.harness import bench_redis_url, flush\n"
    "url = bench_redis_url()\n"
    "client = flush()\n"
    "client.set('bench:probe', '1')\n"
    "print(url, os.environ['BENCH_REDIS_URL'] == url, client.dbsize())\n"
)


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURIER_", "BENCH_"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_bench_redis_url_a_private_server_is_started_and_removed() -> None:
    result = _run({})
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    url, exported, keys = line.split()
    assert url.startswith("redis://127.0.0.1:")
    assert not url.startswith("redis://127.0.0.1:6379/")
    assert exported == "True"
    assert keys == "1"
    # Gone after the benchmark process exits.
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError(f"the private benchmark Redis at {url} outlived its process")


def test_a_given_database_that_holds_keys_is_refused_and_left_alone() -> None:
    with PrivateRedis(password="bench-Pass-1") as server:
        client = redis.Redis.from_url(server.url)
        client.set("someone:else", "precious")
        result = _run({"BENCH_REDIS_URL": server.url})
        assert result.returncode != 0
        assert "holds 1 keys" in result.stderr
        assert "bench-Pass-1" not in result.stderr
        assert client.get("someone:else") == b"precious"
        client.delete("someone:else")
        result = _run({"BENCH_REDIS_URL": server.url})  # empty now: accepted
        assert result.returncode == 0, result.stderr
        assert client.get("bench:probe") == b"1"
