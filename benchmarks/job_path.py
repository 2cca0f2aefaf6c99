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
from typing import cast

from benchmarks.floor import bare_call_cpu_seconds, tree_cpu_seconds
from benchmarks.harness import (
    bench_redis_url,
    flush,
    percentile,
    processes,
    running_emulator_process,
    wait_until,
)
from worker.contrib.emulator.synthetic import PUBLIC_CLIENT_ID, username
from worker.sealing import generate_key


def _stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


Result = tuple[list[float], float, list[float]]
"""(burst latencies, jobs/s, alone latencies)"""


def _courier(
    endpoint: str, jobs: int, concurrency: int, singles: int, cpu: list[float] | None = None
) -> Result:
    """The courier's figures; ``cpu`` gets the worker's CPU seconds per job (the burst)."""
    env = {
        **os.environ,
        "COURIER_REDIS_URL": bench_redis_url(),
        "COURIER_COGNITO_ENDPOINT_URL": endpoint,
        "COURIER_RATE_LIMIT": "10000",  # the largest budget (worker.ratelimit.base)
        "COURIER_SEAL_KEY": os.environ.get("COURIER_SEAL_KEY") or generate_key(),
    }
    os.environ.update(env)
    from tasks import job_status, submit_resend, wait

    client = flush()
    command = [sys.executable, "-m", "worker.cli", "worker", "-c", str(concurrency)]
    with processes([[*command, "-l", "WARNING"]], env=env) as children:
        time.sleep(3)  # let the worker connect before the clock starts
        pids = [p.pid for p in children]
        cpu_before = tree_cpu_seconds(pids)
        submitted: dict[str, float] = {}
        first = time.time()
        for n in range(1, jobs + 1):
            job_id = submit_resend(PUBLIC_CLIENT_ID, username(n))
            submitted[job_id] = time.time()
        finished: dict[str, float] = {}

        def all_done() -> bool:
            # One pipelined read of every pending job, so polling costs little CPU.
            pending = [job_id for job_id in submitted if job_id not in finished]
            pipe = client.pipeline(transaction=False)
            for job_id in pending:
                pipe.hmget(f"courier:job:{job_id}", "state", "updated_at")
            for job_id, (state, updated) in zip(pending, pipe.execute(), strict=True):
                if state in (b"succeeded", b"failed", b"skipped"):
                    if state != b"succeeded":
                        raise RuntimeError(f"job {job_id} ended {job_status(job_id)}")
                    finished[job_id] = _stamp(updated.decode())
            if len(finished) < len(submitted):
                time.sleep(0.25)
                return False
            return True

        wait_until(all_done, timeout_seconds=600, what="courier jobs")
        if cpu is not None:
            cpu.append((tree_cpu_seconds(pids) - cpu_before) / jobs)
        alone: list[float] = []
        for n in range(2 * jobs + 1, 2 * jobs + 1 + singles):
            started = time.perf_counter()
            document = wait(submit_resend(PUBLIC_CLIENT_ID, username(n)), timeout_seconds=30)
            alone.append(time.perf_counter() - started)
            assert document["state"] == "succeeded", document
    client.close()
    latencies = [finished[j] - submitted[j] for j in submitted]
    return latencies, jobs / (max(finished.values()) - first), alone


def _plain(
    endpoint: str, jobs: int, concurrency: int, singles: int, cpu: list[float] | None = None
) -> Result:
    """Plain Celery's figures; ``cpu`` as for :func:`_courier`."""
    env = {**os.environ, "BENCH_REDIS_URL": bench_redis_url(), "BENCH_ENDPOINT_URL": endpoint}
    os.environ.update(env)
    from benchmarks.plain_celery import DONE_KEY, plain_resend

    client = flush()
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.plain_celery", "worker"]
    options = ["--pool", "threads", "-c", str(concurrency), "-l", "WARNING"]
    with processes([[*command, *options]], env=env) as children:
        time.sleep(3)
        pids = [p.pid for p in children]
        cpu_before = tree_cpu_seconds(pids)
        submitted: dict[str, float] = {}
        first = time.time()
        for n in range(jobs + 1, 2 * jobs + 1):
            name = username(n)
            plain_resend.apply_async(args=(PUBLIC_CLIENT_ID, name))
            submitted[name] = time.time()
        wait_until(
            lambda: client.hlen(DONE_KEY) >= jobs, timeout_seconds=600, what="plain Celery tasks"
        )
        if cpu is not None:
            cpu.append((tree_cpu_seconds(pids) - cpu_before) / jobs)
        done = cast("dict[bytes, bytes]", client.hgetall(DONE_KEY))
        finished = {k.decode(): float(v) for k, v in done.items()}
        alone: list[float] = []
        for n in range(3 * jobs + 1, 3 * jobs + 1 + singles):
            started = time.perf_counter()
            name = username(n)
            plain_resend.apply_async(args=(PUBLIC_CLIENT_ID, name))
            wait_until(
                lambda name=name: client.hexists(DONE_KEY, name), timeout_seconds=30, what=name
            )
            alone.append(time.perf_counter() - started)
    client.close()
    latencies = [finished[name] - submitted[name] for name in submitted]
    return latencies, jobs / (max(finished.values()) - first), alone


def main() -> None:
    """Run both pipelines and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--singles", type=int, default=100, help="jobs sent one at a time")
    args = parser.parse_args()
    users = str(4 * args.jobs + args.singles)
    with running_emulator_process("--users", users, "--rate-user-resource-read", "0") as emulator:
        spare = 3 * args.jobs + args.singles + 1  # users no pipeline sends to
        floor = bare_call_cpu_seconds(
            emulator.endpoint_url, calls=min(400, args.jobs - 20), first=spare
        )
        cpu: list[float] = []  # courier, then plain: worker CPU seconds per job
        courier = _courier(emulator.endpoint_url, args.jobs, args.concurrency, args.singles, cpu)
        plain = _plain(emulator.endpoint_url, args.jobs, args.concurrency, args.singles, cpu)
    print(f"job path: 1 worker x {args.concurrency} threads, emulator quota off, same run")
    print(
        f"{'pipeline':<24}{'alone p50':>11}{'alone p99':>11}"
        f"{'burst p50':>11}{'burst p99':>11}{'jobs/s':>9}{'CPU/job':>10}"
    )
    for name, (latencies, rate, alone), per_job in (
        ("cognito-courier", courier, cpu[0]),
        ("plain Celery + boto3", plain, cpu[1]),
    ):
        a50, a99 = (1000 * percentile(alone, q) for q in (0.5, 0.99))
        b50, b99 = (1000 * percentile(latencies, q) for q in (0.5, 0.99))
        print(
            f"{name:<24}{a50:>9.1f}ms{a99:>9.1f}ms{b50:>9.1f}ms{b99:>9.1f}ms{rate:>9.1f}"
            f"{per_job * 1000:>8.2f}ms"
        )
    print(
        f"{'bare boto3 call (floor)':<68}{floor * 1000:>8.2f}ms  CPU per call, one thread, "
        "this process: botocore's own cost, under any pipeline that keeps boto3"
    )
    print(
        f"alone: {args.singles} jobs one at a time, submit -> succeeded; burst: {args.jobs} "
        "jobs submitted at once, submit -> finish (queueing included); jobs/s over the burst"
    )
    print(f"throughput ratio courier/plain: {courier[1] / plain[1]:.2f}")
    print(
        f"CPU per job: courier {cpu[0] / floor:.1f} x the bare call, plain Celery "
        f"{cpu[1] / floor:.1f} x (worker process tree over the burst, /proc)"
    )


if __name__ == "__main__":
    main()
