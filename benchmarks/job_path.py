"""Benchmark the job path: submit-to-succeeded latency and throughput, no budget limit.

    .venv/bin/python -m benchmarks.job_path [--jobs 2000] [--concurrency 8]

Both pipelines run in the same run against the same emulator (a separate process, quota
off, no added latency), each with one worker process of ``--concurrency`` threads:

* cognito-courier: ``tasks.submit_resend`` -> ``courier worker`` (guard, limiter at
  1,000,000 calls/s, status store, sealed secrets, events on) -> succeeded;
* baseline: a plain Celery task that calls boto3 (``benchmarks.plain_celery``).

Latency is from submit to the recorded finish; throughput is jobs / (last finish - first
submit). Every job goes to a distinct synthetic user, so no per-user cap is touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime

from benchmarks.harness import (
    BENCH_REDIS_URL,
    flush,
    percentile,
    processes,
    running_emulator_process,
    wait_until,
)
from worker.emulator.synthetic import PUBLIC_CLIENT_ID, username
from worker.sealing import generate_key


def _stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _courier(endpoint: str, jobs: int, concurrency: int) -> tuple[list[float], float]:
    env = {
        **os.environ,
        "COURIER_REDIS_URL": BENCH_REDIS_URL,
        "COURIER_COGNITO_ENDPOINT_URL": endpoint,
        "COURIER_RATE_LIMIT": "1000000",
        "COURIER_SEAL_KEY": os.environ.get("COURIER_SEAL_KEY") or generate_key(),
    }
    os.environ.update(env)
    from tasks import job_status, submit_resend

    client = flush()
    command = [sys.executable, "-m", "worker.cli", "worker", "-c", str(concurrency)]
    with processes([[*command, "-l", "WARNING"]], env=env):
        time.sleep(3)  # let the worker connect before the clock starts
        submitted: dict[str, float] = {}
        first = time.time()
        for n in range(1, jobs + 1):
            job_id = submit_resend(PUBLIC_CLIENT_ID, username(n))
            submitted[job_id] = time.time()
        finished: dict[str, float] = {}

        def all_done() -> bool:
            for job_id in list(submitted):
                if job_id in finished:
                    continue
                document = job_status(job_id)
                if document["state"] in ("succeeded", "failed", "skipped"):
                    if document["state"] != "succeeded":
                        raise RuntimeError(f"job {job_id} ended {document}")
                    finished[job_id] = _stamp(document["updated_at"])
            return len(finished) == len(submitted)

        wait_until(all_done, timeout_seconds=600, what="courier jobs")
    client.close()
    latencies = [finished[j] - submitted[j] for j in submitted]
    return latencies, jobs / (max(finished.values()) - first)


def _plain(endpoint: str, jobs: int, concurrency: int) -> tuple[list[float], float]:
    env = {**os.environ, "BENCH_REDIS_URL": BENCH_REDIS_URL, "BENCH_ENDPOINT_URL": endpoint}
    os.environ.update(env)
    from benchmarks.plain_celery import DONE_KEY, plain_resend

    client = flush()
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.plain_celery", "worker"]
    options = ["--pool", "threads", "-c", str(concurrency), "-l", "WARNING"]
    with processes([[*command, *options]], env=env):
        time.sleep(3)
        submitted: dict[str, float] = {}
        first = time.time()
        for n in range(jobs + 1, 2 * jobs + 1):
            name = username(n)
            plain_resend.apply_async(args=[PUBLIC_CLIENT_ID, name])
            submitted[name] = time.time()
        wait_until(
            lambda: client.hlen(DONE_KEY) >= jobs, timeout_seconds=600, what="plain Celery tasks"
        )
        finished = {k.decode(): float(v) for k, v in client.hgetall(DONE_KEY).items()}
    client.close()
    latencies = [finished[name] - submitted[name] for name in submitted]
    return latencies, jobs / (max(finished.values()) - first)


def main() -> None:
    """Run both pipelines and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    users = str(2 * args.jobs + 10)
    with running_emulator_process("--users", users, "--unlimited") as emulator:
        courier = _courier(emulator.endpoint_url, args.jobs, args.concurrency)
        plain = _plain(emulator.endpoint_url, args.jobs, args.concurrency)
    print(f"job path, {args.jobs} jobs, 1 worker x {args.concurrency} threads, quota off")
    print(f"{'pipeline':<28}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'jobs/s':>10}")
    for name, (latencies, rate) in (("cognito-courier", courier), ("plain Celery + boto3", plain)):
        p50, p95, p99 = (1000 * percentile(latencies, q) for q in (0.5, 0.95, 0.99))
        print(f"{name:<28}{p50:>10.1f}{p95:>10.1f}{p99:>10.1f}{rate:>10.1f}")
    print(f"throughput ratio courier/plain: {courier[1] / plain[1]:.2f}")


if __name__ == "__main__":
    main()
