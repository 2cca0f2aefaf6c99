"""Benchmark a budget per Region: two Regions at 5 calls/s each, 60 jobs spread over both.

    .venv/bin/python -m benchmarks.regions [--budget 5] [--jobs-per-region 30] [--workers 2]

One emulator process, ``--workers`` ``courier worker`` processes (8 threads each), a
private Redis (see :mod:`benchmarks.harness`). A pool is made in each of eu-west-1 and
us-east-1 (the emulator gives a pool the Region its client called), the registry
(COURIER_CLIENTS) names both, and every job goes to a distinct user, alternating Regions.
Four warm-up jobs a Region run first, outside the clock (a worker process builds its
runtime and its Region's boto3 client on its first job there, 1-3 s on a loaded machine).
Printed: the time from the first submit to the last job finished (one shared budget would
need ``2 * jobs / budget`` seconds, a budget per Region ``jobs / budget``), and for each
Region the most calls Cognito saw in any 1-second window (never above budget + 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import bench_redis_url, flush, processes, running_emulator_process
from worker.contrib.emulator import EmulatorHandle
from worker.sealing import generate_key

REGIONS = ("eu-west-1", "us-east-1")


def most_in_one_second(times: list[float]) -> int:
    """The most of ``times`` (seconds) in any 1-second window."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


def regional_pools(
    endpoint_url: str, regions: tuple[str, ...], users_per_region: int
) -> tuple[dict[str, dict[str, str]], list[tuple[str, list[str]]]]:
    """A pool with one app client and ``users_per_region`` UNCONFIRMED users in each Region.

    Returns the registry (COURIER_CLIENTS document) and ``(client id, usernames)`` per
    Region, in order.
    """
    registry: dict[str, dict[str, str]] = {}
    users: list[tuple[str, list[str]]] = []
    for region in regions:
        pool = EmulatorHandle(endpoint_url, region=region).make_pool(region)
        names = pool.add_users(f"{region}-{n:04d}" for n in range(users_per_region))
        registry[pool.client_id] = {"user_pool_id": pool.pool_id}
        users.append((pool.client_id, names))
    return registry, users


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=5.0)
    parser.add_argument("--jobs-per-region", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    with running_emulator_process() as emulator, tempfile.TemporaryDirectory() as tmp:
        registry, pairs = regional_pools(
            emulator.endpoint_url, REGIONS, options.jobs_per_region + 1
        )
        warm_up = [(client_id, names[0]) for client_id, names in pairs]
        users = [(client_id, names[1:]) for client_id, names in pairs]
        path = Path(tmp) / "clients.json"
        path.write_text(json.dumps(registry))
        env = {
            **os.environ,
            "COURIER_REDIS_URL": bench_redis_url(),
            "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
            "COURIER_CLIENTS": str(path),
            "COURIER_RATE_LIMIT": f"{options.budget:g}",
            "COURIER_SEAL_KEY": os.environ.get("COURIER_SEAL_KEY") or generate_key(),
        }
        os.environ.update(env)
        from tasks import submit_resend, wait  # after the environment is set

        flush()
        command = [sys.executable, "-m", "worker.cli", "worker", "-c", "8", "-l", "WARNING"]
        with processes(
            [[*command, "-n", f"regions{n}@%h"] for n in range(options.workers)], env=env
        ):
            time.sleep(3)  # the workers connect before the clock starts
            # outside the clock, 4 jobs a Region (distinct requests, one user): every worker
            # process builds its runtime and a boto3 client per Region on its first job there
            warm = [
                submit_resend(client_id, name, client_metadata={"warm": str(n)})
                for n in range(4)
                for client_id, name in warm_up
            ]
            for job in warm:
                wait(job, timeout_seconds=60)
            time.sleep(1.0)  # the warm-up permits are in the past
            emulator.reset()
            began = time.time()
            ids = [
                submit_resend(client_id, names[n])
                for n in range(options.jobs_per_region)
                for client_id, names in users
            ]
            states = [wait(job, timeout_seconds=120)["state"] for job in ids]
            elapsed = time.time() - began
        sent = [d for d in emulator.deliveries() if d["operation"] == "ResendConfirmationCode"]
    total = len(ids)
    print(f"{total} jobs over {len(REGIONS)} Regions at {options.budget:g}/s each, ", end="")
    print(f"{options.workers} workers x 8 threads")
    print(f"  succeeded: {states.count('succeeded')}/{total}")
    print(f"  first submit to last finish: {elapsed:.2f} s", end="")
    print(
        f" (a budget per Region: ~{options.jobs_per_region / options.budget:.0f} s;"
        f" one shared budget: ~{total / options.budget:.0f} s)"
    )
    for region in REGIONS:
        times = [d["time"] for d in sent if d["pool_id"].startswith(f"{region}_")]
        span = max(times) - min(times) if times else 0.0
        print(
            f"  {region}: {len(times)} calls over {span:.2f} s (from {min(times) - began:.2f} s), "
            f"most in any 1 s window: {most_in_one_second(times)} (budget + 1 = "
            f"{options.budget + 1:g})"
        )
    return 0 if states.count("succeeded") == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
