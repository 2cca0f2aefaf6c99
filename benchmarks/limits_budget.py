"""``benchmarks.limits`` scenarios for a budget that is not the default quota.

    .venv/bin/python -m benchmarks.limits --budget 250 --quota 300 --workers 2 --threads 16
    .venv/bin/python -m benchmarks.limits --over-budget [--quota 50 --workers 2 --threads 4]

Both run real ``courier worker`` processes against the emulator (``benchmarks.limits``
starts it), every job to a distinct synthetic user.

* **raised quota** (``--budget B --quota Q``): the emulator's UserResourceRead quota set to
  Q, ``COURIER_RATE_LIMIT`` = B, enough interactive jobs to saturate B for ``--seconds``.
  Printed: mean calls/s over the saturated part and mean / B (target >= 0.97), the busiest
  sliding second at the emulator (target <= B + 1), throttles (target 0 when B <= Q).
* **over budget** (``--over-budget``): B = 10 x and 200 x Q (an operator who believes a
  quota raise was bought, or a typo). Printed: throttled share of the calls after the
  first 10 s (target <= 1%), throttles per second, failed jobs (target 0), and what
  ``courier limit show`` reports at the end (the rate, the observed quota).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks.harness import bench_redis_url, flush, processes, wait_until
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.synthetic import PUBLIC_CLIENT_ID, username

__all__ = ["OverBudget", "Shape", "fleet", "limit_show", "over_budget", "print_over_budget"]

SETTLE_SECONDS = 10.0
"""The first seconds after the first call, excluded from the throttled share."""


@dataclass(frozen=True)
class Shape:
    """A fleet: ``workers`` ``courier worker`` processes of ``threads`` threads each."""

    workers: int
    threads: int


@contextmanager
def fleet(endpoint: str, budget: float, shape: Shape) -> Iterator[None]:
    """``shape.workers`` ``courier worker -c threads`` processes with budget ``budget``."""
    env = {
        **os.environ,
        "COURIER_REDIS_URL": bench_redis_url(),
        "COURIER_COGNITO_ENDPOINT_URL": endpoint,
        "COURIER_RATE_LIMIT": f"{budget:g}",
        "COURIER_WORKER_CONCURRENCY": str(shape.threads),
    }
    command = [sys.executable, "-m", "worker.cli", "worker", "-c", str(shape.threads)]
    with processes([[*command, "-l", "WARNING"]] * shape.workers, env=env, quiet=True):
        yield


@dataclass(frozen=True)
class OverBudget:
    """One over-budget run's figures."""

    budget: float
    quota: float
    jobs: int
    calls: int
    throttled: int
    calls_after: int
    throttled_after: int
    throttled_per_second: list[int]
    failed: int
    unfinished: int
    limiter: str


def over_budget(
    emulator: EmulatorHandle,
    users: range,
    *,
    budget: float,
    quota: float,
    shape: Shape,
    seconds: float,
) -> OverBudget:
    """Budget ``budget`` against an emulator quota of ``quota``: one job per user of
    ``users`` (about ``seconds`` of quota), run to the end by a ``shape`` fleet."""
    from tasks import job_status, submit_resend

    flush().close()
    emulator.configure(user_resource_read_per_second=quota)
    emulator.reset()
    ids = [submit_resend(PUBLIC_CLIENT_ID, username(n)) for n in users]
    jobs = len(ids)
    terminal = {"succeeded", "failed", "skipped", "cancelled"}
    with fleet(emulator.endpoint_url, budget, shape):
        wait_until(
            lambda: emulator.stats()["totals"].get("ResendConfirmationCode", 0) > 0,
            timeout_seconds=60,
            what="the first call at the emulator",
        )
        first = time.time()
        deadline = first + seconds * 2 + 30

        def done() -> bool:
            return job_status(ids[-1])["state"] in terminal

        while time.time() < deadline and not done():
            time.sleep(1.0)
        time.sleep(3.0)  # the last retries
        stats = emulator.stats()
        states = [job_status(job_id)["state"] for job_id in ids]
        limiter = limit_show(budget)
    accepted = {int(s): sum(row.values()) for s, row in stats["per_second"].items()}
    throttled = {int(s): int(n) for s, n in stats["throttled_per_second"].items()}
    seconds_seen = sorted(set(accepted) | set(throttled))
    after = [s for s in seconds_seen if s >= first + SETTLE_SECONDS]
    return OverBudget(
        budget=budget,
        quota=quota,
        jobs=jobs,
        calls=sum(accepted.values()) + sum(throttled.values()),
        throttled=sum(throttled.values()),
        calls_after=sum(accepted.get(s, 0) + throttled.get(s, 0) for s in after),
        throttled_after=sum(throttled.get(s, 0) for s in after),
        throttled_per_second=[throttled.get(s, 0) for s in seconds_seen],
        failed=states.count("failed"),
        unfinished=sum(state not in terminal for state in states),
        limiter=limiter,
    )


def limit_show(budget: float) -> str:
    """What ``courier limit show`` says of UserResourceRead in every Region seen."""
    import redis

    from worker.ratelimit import Category, LimiterConfig, RegionalLimiters
    from worker.settings import load_settings

    client = redis.Redis.from_url(bench_redis_url())
    limiters = RegionalLimiters(
        client, LimiterConfig.from_settings(load_settings(rate_limit=budget))
    )
    lines = []
    for region in limiters.known([]):
        state = limiters.for_region(region).state(Category.USER_RESOURCE_READ)
        observed = getattr(state, "observed_quota_per_second", None)  # None: before issue 23
        seen = "none" if observed is None else f"{observed:.1f}/s"
        lines.append(
            f"{region}: rate now {state.rate_per_second:.2f}/s, floor "
            f"{state.floor_per_second:g}/s, observed quota {seen}, "
            f"{state.throttles} counted throttle(s)"
        )
    client.close()
    return "; ".join(lines) or "no Region seen"


def print_over_budget(rows: list[OverBudget], shape: Shape) -> None:
    """Print the over-budget runs, one block each, with the targets' verdicts."""
    print(
        f"over budget: {shape.workers} worker processes x {shape.threads} threads, "
        f"throttled share counted from {SETTLE_SECONDS:g} s after the first call"
    )
    print(
        f"{'budget':>7}{'quota':>7}{'x Q':>6}{'jobs':>7}{'calls':>7}{'throttled':>10}"
        f"{'after 10 s':>14}{'share':>8}{'failed':>7}{'unfinished':>11}"
    )
    for r in rows:
        share = r.throttled_after / max(1, r.calls_after)
        after = f"{r.throttled_after}/{r.calls_after}"
        print(
            f"{r.budget:>7g}{r.quota:>7g}{r.budget / r.quota:>6g}{r.jobs:>7d}{r.calls:>7d}"
            f"{r.throttled:>10d}{after:>14}{share:>8.2%}{r.failed:>7d}{r.unfinished:>11d}"
        )
        print(f"  throttled per second: {' '.join(map(str, r.throttled_per_second))}")
        print(f"  limit show at the end: {r.limiter}")
        verdict = "met" if share <= 0.01 else "MISSED"
        jobs_ok = "met" if r.failed == 0 and r.unfinished == 0 else "MISSED"
        print(f"  throttled <= 1% after 10 s {verdict}; 0 jobs failed {jobs_ok}")
