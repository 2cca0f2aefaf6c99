"""Benchmark fair sharing of the bulk rate: two campaigns, first come first served vs shared.

    .venv/bin/python -m benchmarks.fairness [--bulk 30] [--seconds 20] [--big-threads 12]
                                            [--small-threads 4] [--head-start 5]

The limiter alone (no Cognito calls): ``RedisRateLimiter`` on the benchmark's Redis (a
private redis-server, see :mod:`benchmarks.harness`), budget ``bulk / 0.8`` with a bulk
share of 0.8. A "big" campaign takes bulk permits with ``--big-threads`` threads, then a
"small" one joins ``--head-start`` s later with ``--small-threads`` threads; both run for
``--seconds`` more. Each thread takes a permit, then holds it for 20 ms (a call's time
at the emulator) before asking again. Two runs, in the same process:

* **baseline** - no campaign passed to ``acquire`` (the limiter before fair sharing: one
  bulk GCRA, first come first served, so the threads in flight decide);
* **fair** - each thread passes its campaign's ``CampaignShare``.

Printed per run: the big one's rate alone, each campaign's rate while both run, its
fraction of the bulk rate, and how long after its start the small one first held 0.45 of
the bulk rate over 2 s. The same figures through real workers and the emulator:
``tests/ratelimit/test_limits_processes.py::test_two_campaigns_share_the_bulk_rate_equally``.
"""

from __future__ import annotations

import argparse
import threading
import time

import redis

from benchmarks.harness import bench_redis_url, flush
from worker.errors import PermitTimeoutError
from worker.ratelimit import CampaignShare, Category, LimiterConfig, Priority, RedisRateLimiter

URR = Category.USER_RESOURCE_READ
HOLD_SECONDS = 0.02


def _rate(times: list[float], start: float, end: float) -> float:
    return len([t for t in times if start <= t < end]) / (end - start)


def _run(client: redis.Redis, args: argparse.Namespace, *, fair: bool) -> dict[str, float | None]:
    flush()
    bulk = float(args.bulk)
    config = LimiterConfig(
        budgets={URR: bulk / 0.8, Category.USER_LIST: 10.0}, bulk_shares={URR: 0.8}
    )
    limiter = RedisRateLimiter(client, config)
    times: dict[str, list[float]] = {"big": [], "small": []}
    start = time.monotonic()
    small_start = start + args.head_start
    stop = small_start + args.seconds

    def body(name: str, begin: float) -> None:
        share = CampaignShare(name) if fair else None
        time.sleep(max(0.0, begin - time.monotonic()))
        while (left := stop - time.monotonic()) > 0:
            try:
                limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=left, campaign=share)
            except PermitTimeoutError:
                return
            times[name].append(time.monotonic())
            time.sleep(HOLD_SECONDS)

    threads = [threading.Thread(target=body, args=("big", start)) for _ in range(args.big_threads)]
    threads += [
        threading.Thread(target=body, args=("small", small_start))
        for _ in range(args.small_threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    small = times["small"]
    reached = next(
        (t - small_start for t in small if _rate(small, t, t + 2.0) >= 0.45 * bulk), None
    )
    return {
        "alone": _rate(times["big"], small_start - 3.0, small_start),
        "big": _rate(times["big"], small_start + 5.0, stop),
        "small": _rate(small, small_start + 5.0, stop),
        "reached": reached,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk", type=float, default=30.0, help="bulk rate, calls/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="both running, measured")
    parser.add_argument("--big-threads", type=int, default=12)
    parser.add_argument("--small-threads", type=int, default=4)
    parser.add_argument("--head-start", type=float, default=5.0)
    args = parser.parse_args()
    client = redis.Redis.from_url(bench_redis_url())
    print(
        f"two campaigns at a bulk rate of {args.bulk:g}/s: big ({args.big_threads} threads), "
        f"small ({args.small_threads} threads) {args.head_start:g} s later; "
        f"rates while both run over {args.seconds:g} s (from 5 s after the small one's start)"
    )
    print(
        f"{'run':10} {'big alone':>10} {'big':>8} {'small':>8} {'small x bulk':>13} {'share in':>9}"
    )
    met = True
    for label, fair in (("baseline", False), ("fair", True)):
        found = _run(client, args, fair=fair)
        small, reached = float(found["small"] or 0), found["reached"]
        shown = "never" if reached is None else f"{reached:.2f} s"
        print(
            f"{label:10} {found['alone']:>8.1f}/s {found['big']:>6.1f}/s {small:>6.1f}/s "
            f"{small / args.bulk:>13.2f} {shown:>9}"
        )
        if fair:
            big = float(found["big"] or 0)
            ok = min(big, small) >= 0.45 * args.bulk and reached is not None and reached <= 5.0
            met = met and ok
            verdict = "met" if ok else "NOT met"
            print(f"  fair: each >= 0.45 of the bulk rate, share within 5 s: {verdict}")
    client.close()
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
