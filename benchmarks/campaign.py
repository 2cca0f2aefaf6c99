"""Benchmark bulk campaigns against their baselines, all measured in the same run.

    .venv/bin/python -m benchmarks.campaign [--users 1000000] [--run-users 20000]
        [--baseline-messages 20000] [--concurrency 16] [--workers 1]

Numbers printed (targets in docs/benchmarks.md):

1. ingest: ``start_campaign`` on a ``--users`` CSV (username and email columns), from
   reading the file to every row stored (target <= 30 s for 1,000,000);
2. Redis memory (INFO ``used_memory`` delta) of that whole campaign in flight, beside one
   Celery message per user (``--baseline-messages`` real ``courier.resend_confirmation_code``
   messages enqueued and extrapolated) (target <= 150 MB);
3. throughput with no budget limit and a zero-latency emulator (a separate process, quota
   and per-user cap off): the best bare boto3 loop (1, 2, 4, 8 threads), a naive
   one-Celery-task-per-user pipeline (``submit_resend`` per user, ``courier worker``,
   threads pool) and a campaign on the same worker (targets >= 0.8 x the best loop and
   >= 1.5 x the naive pipeline);
4. campaign status query latency (p50, p99) sampled from this process while the campaign
   runs (target p99 <= 5 ms).

Uses the benchmark's own Redis (``benchmarks.harness.bench_redis_url``: a private
redis-server, or an empty database named by ``BENCH_REDIS_URL``), emptied between runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.floor import bare_call_cpu_seconds, tree_cpu_seconds
from benchmarks.harness import (
    bench_redis_url,
    flush,
    percentile,
    processes,
    running_emulator_process,
    unsigned_client,
    wait_until,
)
from worker.contrib.emulator.synthetic import PUBLIC_CLIENT_ID, username
from worker.sealing import generate_key

MB = 1024 * 1024


def _env(endpoint: str, concurrency: int) -> dict[str, str]:
    env = {
        **os.environ,
        "COURIER_REDIS_URL": bench_redis_url(),
        "COURIER_COGNITO_ENDPOINT_URL": endpoint,
        "COURIER_RATE_LIMIT": "10000",  # the largest budget (worker.ratelimit.base)
        "COURIER_BULK_SHARE": "1",
        "COURIER_WORKER_CONCURRENCY": str(concurrency),
        "COURIER_SEAL_KEY": os.environ.get("COURIER_SEAL_KEY") or generate_key(),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
    }
    os.environ.update(env)
    return env


def _used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


def ingest_and_memory(users: int) -> dict[str, float]:
    """Ingest a ``users`` CSV with no worker running; measure time and memory."""
    from tasks.campaigns import start_campaign

    client = flush()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.csv"
        with path.open("w", encoding="utf-8") as handle:
            handle.write("username,email\n")
            handle.writelines(f"{username(n)},{username(n)}@example.com\n" for n in range(users))
        before = _used_memory(client)
        started = time.perf_counter()
        doc = start_campaign(PUBLIC_CLIENT_ID, file=path, name="bench ingest")
        seconds = time.perf_counter() - started
        after = _used_memory(client)
    assert doc["total"] == users, doc
    return {"seconds": seconds, "bytes": after - before, "users": users}


def celery_message_cost(messages: int) -> float:
    """Bytes of Redis memory per queued ``courier.resend_confirmation_code`` message."""
    from worker.app import app

    client = flush()
    before = _used_memory(client)
    for n in range(messages):
        kwargs = {
            "job_id": f"{n:08d}-0000-4000-8000-000000000000",
            "client_id": PUBLIC_CLIENT_ID,
            "username": username(n),
            "sealed_secret_hash": None,
            "client_metadata": None,
        }
        app.send_task("courier.resend_confirmation_code", kwargs=kwargs, queue="bench_baseline")
    per_message = (_used_memory(client) - before) / messages
    client.delete("bench_baseline")
    return per_message


def bare_loop(endpoint: str, threads: int, *, seconds: float, first: int) -> float:
    """Calls/s of ``threads`` threads calling ResendConfirmationCode as fast as they can."""
    counts = [0] * threads
    stop_at = time.perf_counter() + seconds

    def run(index: int) -> None:
        client = unsigned_client(endpoint)
        n = first + index * 1_000_000 // threads
        while time.perf_counter() < stop_at:
            client.resend_confirmation_code(ClientId=PUBLIC_CLIENT_ID, Username=username(n))
            counts[index] += 1
            n += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def naive_pipeline(users: int, first: int) -> float:
    """Jobs/s of one Celery task per user (submit to last recorded finish)."""
    from tasks import job_status, submit_resend

    started = time.time()
    ids = [submit_resend(PUBLIC_CLIENT_ID, username(first + n)) for n in range(users)]
    pending = set(ids)
    last = [started]

    def all_done() -> bool:
        for job_id in list(pending):
            document = job_status(job_id)
            if document["state"] in ("succeeded", "failed", "skipped"):
                pending.discard(job_id)
        return not pending

    wait_until(all_done, timeout_seconds=900, what="naive jobs")
    last[0] = time.time()
    return users / (last[0] - started)


def campaign_run(users: int, first: int, window: int) -> dict[str, Any]:
    """Rows/s of a campaign, and status latencies sampled while it runs."""
    from tasks.campaigns import campaign_status, start_campaign
    from worker.campaign.store import CampaignStore
    from worker.runtime import get_runtime

    data = "".join(f"{username(first + n)}\n" for n in range(users)).encode()
    started = time.time()
    doc = start_campaign(PUBLIC_CLIENT_ID, data=data, file_format="text", window=window)
    samples: list[float] = []
    while True:
        t0 = time.perf_counter()
        status = campaign_status(doc["id"])
        samples.append(time.perf_counter() - t0)
        if status["state"] == "done":
            break
        time.sleep(0.005)
    store = CampaignStore(get_runtime().redis, doc["id"])
    meta = store.meta()
    out_bytes = sum(len(store.outcomes(c)) for c in range(-(-users // 1000)))
    return {
        "rate": users / (float(meta["finished_at"]) - started),
        "status": samples,
        "succeeded": status["counts"]["succeeded"],
        "outcome_bytes_per_row": out_bytes / users,
    }


def main() -> None:
    """Run every measurement and print the numbers with their targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--run-users", type=int, default=20_000)
    parser.add_argument("--baseline-messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--loop-seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (both)")
    args = parser.parse_args()

    emulator_args = ["--users", "9000000", "--rate-user-resource-read", "0"]
    emulator_args += ["--per-user-hourly-cap", "0"]
    with running_emulator_process(*emulator_args) as emulator:
        env = _env(emulator.endpoint_url, args.concurrency)
        ingest = ingest_and_memory(args.users)
        per_message = celery_message_cost(args.baseline_messages)
        flush()
        loops = {
            threads: bare_loop(
                emulator.endpoint_url, threads, seconds=args.loop_seconds, first=1_000_000
            )
            for threads in (1, 2, 4, 8)
        }
        worker = [sys.executable, "-m", "worker.cli", "worker", "-c", str(args.concurrency)]
        commands = [[*worker, "-l", "WARNING", "-n", f"bench{i}@%h"] for i in range(args.workers)]
        floor = bare_call_cpu_seconds(emulator.endpoint_url)
        with processes(commands, env=env) as started:
            time.sleep(3)  # the worker connects before any clock starts
            pids = [p.pid for p in started]
            cpu_start = tree_cpu_seconds(pids)
            naive = naive_pipeline(args.run_users, first=3_000_000)
            cpu_naive = tree_cpu_seconds(pids)
            flush()
            campaign = campaign_run(args.run_users, first=5_000_000, window=args.concurrency)
            cpu_campaign = tree_cpu_seconds(pids)
        per_job = (cpu_naive - cpu_start) / args.run_users
        per_row = (cpu_campaign - cpu_naive) / args.run_users

    best_threads, best_loop = max(loops.items(), key=lambda item: item[1])
    outcome_bytes = campaign["outcome_bytes_per_row"] * args.users
    print(f"\n== campaign benchmark ({args.users:,} users ingested; {args.run_users:,} sent) ==")
    print(f"ingest             {ingest['seconds']:8.1f} s          (target <= 30 s)")
    print(
        f"memory in flight   {ingest['bytes'] / MB:8.1f} MB         (target <= 150 MB); "
        f"+ {outcome_bytes / MB:.1f} MB once every row has an outcome "
        f"({campaign['outcome_bytes_per_row']:.0f} B/row measured)"
    )
    print(
        f"celery baseline    {per_message * args.users / MB:8.1f} MB         "
        f"({per_message:.0f} B/message x {args.users:,}, from {args.baseline_messages:,} real)"
    )
    for threads, rate in loops.items():
        print(f"bare boto3 x{threads:<2}     {rate:8.0f} calls/s")
    print(f"naive task/user    {naive:8.0f} jobs/s")
    print(
        f"campaign           {campaign['rate']:8.0f} rows/s    "
        f"{campaign['rate'] / best_loop:.2f} x best loop (x{best_threads}, target >= 0.8), "
        f"{campaign['rate'] / naive:.2f} x naive (target >= 1.5)"
    )
    print(
        f"worker CPU         {per_row * 1000:8.3f} ms/row  campaign; {per_job * 1000:.3f} ms/job "
        f"naive; bare boto3 call {floor * 1000:.3f} ms (the floor: {per_row / floor:.1f} x per row)"
    )
    samples = campaign["status"]
    print(
        f"status query       p50 {percentile(samples, 0.5) * 1000:.2f} ms, "
        f"p99 {percentile(samples, 0.99) * 1000:.2f} ms over {len(samples)} queries "
        "(target p99 <= 5 ms)"
    )
    flush()


if __name__ == "__main__":
    main()
