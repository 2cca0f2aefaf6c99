"""The cost of waiting for a replica (WAIT), on the job path and on a campaign, same run.

    .venv/bin/python -m benchmarks.replicas [--jobs 1000] [--singles 50] [--users 5000]
        [--concurrency 8] [--modes alone,replica]

For each mode a fresh private primary (``alone``: no replica, nothing waits; ``replica``:
one real replica in sync, so every submission and recorded outcome runs ``WAIT 1 500``,
:mod:`worker.broker.replicas`) and one child process that measures, as
:mod:`benchmarks.job_path` and :mod:`benchmarks.campaign` do, the courier pipeline only:
jobs one at a time (submit -> succeeded), a burst of ``--jobs`` submitted at once, then a
campaign of ``--users`` rows. The WAIT count of each primary (INFO commandstats) is printed
beside the figures, so a run where nothing waited cannot pass for one where it did.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.harness import percentile, running_emulator_process
from worker.contrib.redisserver import PrivateRedis


def _inner(endpoint: str, jobs: int, singles: int, users: int, concurrency: int) -> None:
    """Child: the courier job path and a campaign on BENCH_REDIS_URL; one JSON line out."""
    from benchmarks import job_path
    from benchmarks.campaign import _env, campaign_run
    from benchmarks.harness import flush, processes

    latencies, rate, alone = job_path._courier(endpoint, jobs, concurrency, singles)
    env = _env(endpoint, concurrency)
    flush()
    worker = [sys.executable, "-m", "worker.cli", "worker", "-c", str(concurrency)]
    with processes([[*worker, "-l", "WARNING"]], env=env):
        time.sleep(3)
        campaign = campaign_run(users, first=7_000_000, window=concurrency)
    figures = {
        "alone_p50": percentile(alone, 0.5),
        "alone_p99": percentile(alone, 0.99),
        "burst_p50": percentile(latencies, 0.5),
        "burst_p99": percentile(latencies, 0.99),
        "jobs_per_second": rate,
        "rows_per_second": campaign["rate"],
        "succeeded": campaign["succeeded"],
    }
    sys.stdout.write("FIGURES " + json.dumps(figures) + "\n")


def _waits(server: PrivateRedis) -> int:
    client = server.client()
    try:
        stats = client.info("commandstats").get("cmdstat_wait", {})
        return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0
    finally:
        client.close()


def _wait_in_sync(primary: PrivateRedis) -> None:
    client = primary.client()
    deadline = time.monotonic() + 30
    try:
        while True:
            info = client.info("replication")
            states = [v.get("state") for k, v in info.items() if k.startswith("slave")]
            if "online" in states:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync within 30 s")
            time.sleep(0.05)
    finally:
        client.close()


def _run_mode(mode: str, endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    primary = PrivateRedis()
    primary.start()
    replica = PrivateRedis(replica_of=primary) if mode == "replica" else None
    try:
        if replica is not None:
            replica.start()
            _wait_in_sync(primary)
        env = {**os.environ, "BENCH_REDIS_URL": primary.url, "COURIER_REDIS_URL": primary.url}
        env.pop("COURIER_REDIS_MIN_REPLICAS", None)  # the default: connected replicas, <= 1
        command = [sys.executable, "-m", "benchmarks.replicas", "--inner", endpoint]
        command += ["--jobs", str(args.jobs), "--singles", str(args.singles)]
        command += ["--users", str(args.users), "--concurrency", str(args.concurrency)]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("FIGURES ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"{mode}: exit {done.returncode}: {done.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(lines[-1].removeprefix("FIGURES "))
        figures["waits"] = _waits(primary)
        return figures
    finally:
        if replica is not None:
            replica.close()
        primary.close()


def main() -> None:
    """Run each mode and print one table with both."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=50)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--modes", default="alone,replica")
    parser.add_argument("--inner", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        _inner(args.inner, args.jobs, args.singles, args.users, args.concurrency)
        return
    users = str(4 * args.jobs + args.singles + 8_000_000)
    emulator_args = ["--users", users, "--rate-user-resource-read", "0"]
    emulator_args += ["--per-user-hourly-cap", "0"]
    results: dict[str, dict[str, Any]] = {}
    with running_emulator_process(*emulator_args) as emulator:
        for mode in args.modes.split(","):
            results[mode] = _run_mode(mode, emulator.endpoint_url, args)
    print(
        f"WAIT cost: 1 worker x {args.concurrency} threads, {args.jobs} jobs burst, "
        f"{args.singles} alone, campaign of {args.users} rows; same run"
    )
    print(
        f"{'mode':<9}{'alone p50':>11}{'alone p99':>11}{'burst p50':>11}{'burst p99':>11}"
        f"{'jobs/s':>9}{'rows/s':>9}{'WAITs':>9}"
    )
    for mode, f in results.items():
        print(
            f"{mode:<9}{f['alone_p50'] * 1000:>9.1f}ms{f['alone_p99'] * 1000:>9.1f}ms"
            f"{f['burst_p50'] * 1000:>9.1f}ms{f['burst_p99'] * 1000:>9.1f}ms"
            f"{f['jobs_per_second']:>9.1f}{f['rows_per_second']:>9.0f}{f['waits']:>9}"
        )
    if {"alone", "replica"} <= results.keys():
        base, cost = results["alone"], results["replica"]
        print(
            f"replica / alone: jobs/s {cost['jobs_per_second'] / base['jobs_per_second']:.2f}, "
            f"campaign rows/s {cost['rows_per_second'] / base['rows_per_second']:.2f}, "
            f"alone p50 +{(cost['alone_p50'] - base['alone_p50']) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
