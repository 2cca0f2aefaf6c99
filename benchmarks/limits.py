"""Benchmark the global rate limit against the emulator's quota, baselines included.

    .venv/bin/python -m benchmarks.limits [--seconds 60] [--quick]
    .venv/bin/python -m benchmarks.limits --budget B --quota Q [--workers N --threads T]
    .venv/bin/python -m benchmarks.limits --over-budget [--quota Q --workers N --threads T]

(the last two: a raised quota beside the default one, and a budget 10 x and 200 x the
quota; :mod:`benchmarks.limits_budget` describes them)

Everything runs as real processes on this machine: one emulator (``python -m
worker.contrib.emulator``, UserResourceRead quota Q = 50/s, bucket capacity = one second of quota)
and, per scenario, 4 worker processes of 8 threads on the benchmark's own Redis
(``benchmarks.harness.bench_redis_url``: a private redis-server, or an empty database
named by ``BENCH_REDIS_URL``; emptied before each scenario). Every job goes to a
distinct synthetic user, so the per-user hourly cap is never touched. Scenarios:

1. steady: ``courier worker`` x 4 with COURIER_RATE_LIMIT = B (40, then 50 = Q), and the
   baseline - a plain Celery task calling boto3 with Celery's ``rate_limit`` = B/4 per worker
   process (``benchmarks.plain_rate_limited``) - with the same queue of work. Printed: the
   mean calls/s over the saturated part, the largest count in any rolling 1-second window
   (from the emulator's delivery timestamps), the largest epoch-second count, throttles.
   Targets: mean >= 0.97 B, largest window <= B + 1, no throttle when B <= Q.
2. quota halves: B = Q = 50, and half-way through ``emulator.configure(
   user_resource_read_per_second=25)``. Printed: throttled / all calls (target <= 1%), the
   time from the drop until the per-second rate of calls sent (accepted + throttled) stays
   at or below 26 for the rest of the run (target <= 10 s), and the mean rate after that.
   The Celery baseline runs the same scenario (full run only).
3. priority: a campaign (``tasks.campaigns.start_campaign``, Priority.BULK on the ``bulk``
   queue) saturating its bulk share (0.8 x 40 = 32/s) while one ``tasks.submit_resend``
   every 200 ms is timed from submit to the emulator recording its delivery (target p99
   <= 1 s).

``--quick`` shrinks it to about a minute (steady B = 40 courier and baseline, quota halves
courier only, priority) for smoke use.
"""

from __future__ import annotations

import argparse
import bisect
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    bench_redis_url,
    flush,
    percentile,
    processes,
    running_emulator_process,
    wait_until,
)
from benchmarks.limits_budget import Shape, fleet, limit_show, over_budget, print_over_budget
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.synthetic import PUBLIC_CLIENT_ID, username
from worker.sealing import generate_key

QUOTA = 50.0
HALVED_QUOTA = 25.0
WORKERS = 4
THREADS = 8
BULK_SHARE = 0.8
OPERATION = "ResendConfirmationCode"
SYNTHETIC_USERS = 5_000_000


class _Users:
    """Hands out synthetic user indexes never used before in this run."""

    def __init__(self) -> None:
        self._next = 1

    def take(self, count: int) -> range:
        start = self._next
        self._next += count
        return range(start, start + count)


USERS = _Users()


# --- numbers ---------------------------------------------------------------------------


def max_in_window(times: Sequence[float], window_seconds: float = 1.0) -> int:
    """The most events in any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_seconds) - i for i, t in enumerate(ordered)),
        default=0,
    )


@dataclass(frozen=True)
class Counts:
    """What the emulator saw, per epoch second: calls accepted and calls throttled."""

    accepted: dict[int, int]
    throttled: dict[int, int]

    @classmethod
    def of(cls, stats: dict[str, Any]) -> Counts:
        accepted = {int(s): sum(row.values()) for s, row in stats["per_second"].items()}
        throttled = {int(s): int(n) for s, n in stats["throttled_per_second"].items()}
        return cls(accepted, throttled)

    def sent(self, second: int) -> int:
        """Calls that reached the emulator in ``second`` (accepted or throttled)."""
        return self.accepted.get(second, 0) + self.throttled.get(second, 0)

    def total(self) -> tuple[int, int]:
        """(all calls, throttled calls)."""
        throttled = sum(self.throttled.values())
        return sum(self.accepted.values()) + throttled, throttled


def _delivery_times(emulator: EmulatorHandle) -> list[float]:
    return sorted(float(d["time"]) for d in emulator.deliveries() if d["operation"] == OPERATION)


# --- processes -------------------------------------------------------------------------


def courier_workers(
    endpoint: str, budget: float, shape: Shape | None = None
) -> AbstractContextManager[None]:
    """``WORKERS`` ``courier worker`` processes of ``THREADS`` threads each (or ``shape``)."""
    return fleet(endpoint, budget, shape or Shape(WORKERS, THREADS))


@contextmanager
def celery_workers(endpoint: str, budget: float) -> Iterator[None]:
    """``WORKERS`` plain Celery workers, each limited by ``rate_limit`` = budget / WORKERS."""
    env = {
        **os.environ,
        "BENCH_REDIS_URL": bench_redis_url(),
        "BENCH_ENDPOINT_URL": endpoint,
        "BENCH_RATE_LIMIT": f"{budget:g}",
        "BENCH_WORKERS": str(WORKERS),
    }
    command = [sys.executable, "-m", "celery", "-A", "benchmarks.plain_rate_limited", "worker"]
    options = ["--pool", "threads", "-c", str(THREADS), "-l", "WARNING"]
    commands = [[*command, *options, "-n", f"plain{n}@%h"] for n in range(WORKERS)]
    with processes(commands, env=env, quiet=True):
        yield


def _enqueue_courier(count: int) -> None:
    from tasks import submit_resend

    for n in USERS.take(count):
        submit_resend(PUBLIC_CLIENT_ID, username(n))


def _enqueue_plain(count: int) -> None:
    from benchmarks.plain_rate_limited import rate_limited_resend

    for n in USERS.take(count):
        rate_limited_resend.apply_async(args=(PUBLIC_CLIENT_ID, username(n)))


def _wait_for_first_call(emulator: EmulatorHandle) -> float:
    """Wait until the emulator has seen a call; returns when (wall clock)."""
    wait_until(
        lambda: emulator.stats()["totals"].get(OPERATION, 0) > 0,
        timeout_seconds=60,
        what="the first call at the emulator",
    )
    return time.time()


def _prepare(emulator: EmulatorHandle, quota: float = QUOTA) -> None:
    flush().close()
    emulator.configure(user_resource_read_per_second=quota)
    emulator.reset()


# --- scenarios -------------------------------------------------------------------------

WARMUP_SECONDS = 4.0


@dataclass(frozen=True)
class Steady:
    """One steady run's figures."""

    mean_per_second: float
    max_rolling_window: int
    max_epoch_second: int
    calls: int
    throttled: int


@dataclass(frozen=True)
class Load:
    """One run's load: the budget, measured seconds, pipeline ("courier" or "celery"), the
    emulator's quota, and the courier fleet (None: 4 x 8)."""

    budget: float
    seconds: float
    pipeline: str
    quota: float = QUOTA
    shape: Shape | None = None


def _loaded_workers(emulator: EmulatorHandle, load: Load) -> AbstractContextManager[None]:
    """Queue enough work for ``load``; the workers of its pipeline to run it."""
    _prepare(emulator, load.quota)
    jobs = int(load.budget * (load.seconds + WARMUP_SECONDS + 15) * 1.2) + 100
    if load.pipeline == "courier":
        _enqueue_courier(jobs)
        return courier_workers(emulator.endpoint_url, load.budget, load.shape)
    _enqueue_plain(jobs)
    return celery_workers(emulator.endpoint_url, load.budget)


def steady(
    emulator: EmulatorHandle,
    *,
    budget: float,
    seconds: float,
    pipeline: str,
    quota: float = QUOTA,
    shape: Shape | None = None,
) -> Steady:
    """Saturate ``budget`` for ``seconds`` with ``pipeline`` ("courier" or "celery") against
    an emulator quota of ``quota``; ``shape``: the courier fleet (default 4 x 8)."""
    with _loaded_workers(emulator, Load(budget, seconds, pipeline, quota, shape)):
        first = _wait_for_first_call(emulator)
        time.sleep(WARMUP_SECONDS + seconds)
        stats = emulator.stats()
        times = _delivery_times(emulator)
    start, end = first + WARMUP_SECONDS, float(stats["now"]) - 0.2
    inside = bisect.bisect_left(times, end) - bisect.bisect_left(times, start)
    counts = Counts.of(stats)
    calls, throttled = counts.total()
    seconds_seen = [s for s in counts.accepted if start <= s and s + 1 <= end]
    return Steady(
        mean_per_second=inside / (end - start),
        max_rolling_window=max_in_window(times),
        max_epoch_second=max((counts.sent(s) for s in seconds_seen), default=0),
        calls=calls,
        throttled=throttled,
    )


@dataclass(frozen=True)
class Halving:
    """One quota-halves run's figures."""

    calls: int
    throttled: int
    calls_after_drop: int
    throttled_after_drop: int
    settle_seconds: float | None
    mean_after_settle: float
    rates: list[int]  # calls sent per second from the drop on
    limiter: str


def quota_halves(emulator: EmulatorHandle, *, seconds: float, pipeline: str) -> Halving:
    """B = Q = 50 for ``seconds / 2``, then Q = 25 for ``seconds / 2``."""
    with _loaded_workers(emulator, Load(QUOTA, seconds, pipeline)):
        _wait_for_first_call(emulator)
        time.sleep(WARMUP_SECONDS + seconds / 2)
        dropped_at = time.time()
        emulator.configure(user_resource_read_per_second=HALVED_QUOTA)
        time.sleep(seconds / 2)
        stats = emulator.stats()
        limiter = limit_show(QUOTA) if pipeline == "courier" else "-"
    counts = Counts.of(stats)
    calls, throttled = counts.total()
    first_full, last_full = int(dropped_at) + 1, int(float(stats["now"])) - 1
    after = range(first_full, last_full + 1)
    rates = [counts.sent(s) for s in after]
    settle_index: int | None = None
    for index in range(len(rates) - 1, -1, -1):
        if rates[index] > HALVED_QUOTA + 1:
            break
        settle_index = index
    settled = rates[settle_index:] if settle_index is not None else []
    return Halving(
        calls=calls,
        throttled=throttled,
        calls_after_drop=sum(counts.sent(s) for s in range(int(dropped_at), last_full + 1)),
        throttled_after_drop=sum(
            counts.throttled.get(s, 0) for s in range(int(dropped_at), last_full + 1)
        ),
        settle_seconds=(first_full + settle_index - dropped_at)
        if settle_index is not None
        else None,
        mean_after_settle=sum(settled) / len(settled) if settled else 0.0,
        rates=rates,
        limiter=limiter,
    )


@dataclass(frozen=True)
class PriorityRun:
    """The priority run's figures."""

    latencies: list[float]
    missing: int
    bulk_per_second: float
    total_per_second: float
    source: str


def priority(emulator: EmulatorHandle, *, seconds: float) -> PriorityRun:
    """A campaign saturating the bulk share; single requests timed every 200 ms."""
    from tasks import submit_resend
    from tasks.campaigns import start_campaign

    _prepare(emulator)
    budget = 40.0
    campaign_users = USERS.take(int(budget * BULK_SHARE * (seconds + 30) * 1.3) + 100)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.txt"
        path.write_text("".join(f"{username(n)}\n" for n in campaign_users), encoding="utf-8")
        campaign = start_campaign(PUBLIC_CLIENT_ID, file=path, name="bench-priority")
    singles: dict[str, float] = {}
    with courier_workers(emulator.endpoint_url, budget):
        _wait_for_first_call(emulator)
        time.sleep(WARMUP_SECONDS + 1)  # every worker up, the campaign at its share
        started = time.time()
        next_at = time.monotonic()
        for n in USERS.take(int(seconds / 0.2)):
            next_at += 0.2
            name = username(n)
            singles[name] = time.time()
            submit_resend(PUBLIC_CLIENT_ID, name)
            time.sleep(max(0.0, next_at - time.monotonic()))
        ended = time.time()
        time.sleep(2)  # let the last singles land
        deliveries = emulator.deliveries()
    first_seen: dict[str, float] = {}
    bulk = 0
    total = 0
    for record in deliveries:
        name, at = record["username"], float(record["time"])
        if name in singles:
            first_seen.setdefault(name, at)
        if started <= at < ended:
            total += 1
            bulk += name not in singles
    latencies = [
        first_seen[name] - submitted for name, submitted in singles.items() if name in first_seen
    ]
    return PriorityRun(
        latencies=latencies,
        missing=len(singles) - len(latencies),
        bulk_per_second=bulk / (ended - started),
        total_per_second=total / (ended - started),
        source=f"campaign {campaign['id']} ({len(campaign_users)} users)",
    )


# --- report ----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _print_steady(rows: list[tuple[str, float, Steady]], title: str | None = None) -> None:
    print(title or f"steady: emulator quota Q={QUOTA:g}/s, {WORKERS} workers x {THREADS} threads")
    print(
        f"{'pipeline':<34}{'budget':>7}{'mean/s':>9}{'x B':>7}{'max 1s':>8}"
        f"{'max sec':>8}{'calls':>7}{'throttled':>10}"
    )
    for name, budget, s in rows:
        print(
            f"{name:<34}{budget:>7g}{s.mean_per_second:>9.2f}{s.mean_per_second / budget:>7.3f}"
            f"{s.max_rolling_window:>8d}{s.max_epoch_second:>8d}{s.calls:>7d}{s.throttled:>10d}"
        )
    for name, budget, s in rows:
        if not name.startswith("cognito-courier"):
            continue
        print(
            f"  {name} B={budget:g}: mean >= 0.97 B {_verdict(s.mean_per_second >= 0.97 * budget)}"
            f"; max 1s <= B+1 {_verdict(s.max_rolling_window <= budget + 1)}"
            f"; no throttle {_verdict(s.throttled == 0)}"
        )


def _print_halving(rows: list[tuple[str, Halving]]) -> None:
    print(
        f"quota halves: B=Q={QUOTA:g}/s, Q -> {HALVED_QUOTA:g}/s half-way "
        f"(settled = calls sent per second stay <= {HALVED_QUOTA + 1:g} to the end)"
    )
    print(
        f"{'pipeline':<34}{'calls':>7}{'throttled':>10}{'share':>8}{'after drop':>12}"
        f"{'settled in':>12}{'rate then':>11}"
    )
    for name, h in rows:
        settle = f"{h.settle_seconds:.1f} s" if h.settle_seconds is not None else "never"
        after = f"{h.throttled_after_drop}/{h.calls_after_drop}"
        print(
            f"{name:<34}{h.calls:>7d}{h.throttled:>10d}{h.throttled / max(1, h.calls):>8.2%}"
            f"{after:>12}{settle:>12}{h.mean_after_settle:>9.1f}/s"
        )
        print(f"  calls sent per second after the drop: {' '.join(map(str, h.rates))}")
        if name.startswith("cognito-courier"):
            print(f"  limiter at the end: {h.limiter}")
            share_ok = h.throttled <= 0.01 * h.calls
            settle_ok = h.settle_seconds is not None and h.settle_seconds <= 10
            print(
                f"  throttled <= 1% {_verdict(share_ok)}; settled within 10 s {_verdict(settle_ok)}"
            )


def _print_priority(run: PriorityRun) -> None:
    p50, p99 = (1000 * percentile(run.latencies, q) for q in (0.5, 0.99))
    worst = 1000 * max(run.latencies, default=0.0)
    print(
        f"priority: B=40/s, bulk share {BULK_SHARE:g} ({40 * BULK_SHARE:g}/s), "
        f"{run.source}, one submit_resend every 200 ms"
    )
    print(
        f"  bulk {run.bulk_per_second:.1f}/s, all {run.total_per_second:.1f}/s while timing; "
        f"{len(run.latencies)} singles: submit -> at the emulator p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms, max {worst:.0f} ms, {run.missing} never arrived"
    )
    print(f"  p99 <= 1 s {_verdict(run.missing == 0 and p99 <= 1000)}")


def main() -> None:
    """Run the scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per run")
    parser.add_argument("--quick", action="store_true", help="about a minute, for smoke use")
    parser.add_argument("--budget", type=float, help="raised quota: COURIER_RATE_LIMIT (calls/s)")
    parser.add_argument("--quota", type=float, help="the emulator's UserResourceRead quota")
    parser.add_argument("--workers", type=int, help="courier worker processes (default 4)")
    parser.add_argument("--threads", type=int, help="threads per worker (default 8)")
    parser.add_argument("--over-budget", action="store_true", help="budget 10 x and 200 x Q")
    args = parser.parse_args()
    seconds = 8.0 if args.quick else args.seconds
    halving_seconds = 24.0 if args.quick else max(args.seconds, 30.0)
    os.environ.update(
        {
            "COURIER_REDIS_URL": bench_redis_url(),
            "COURIER_RATE_LIMIT": "40",
            "COURIER_BULK_SHARE": f"{BULK_SHARE:g}",
            "COURIER_WORKER_CONCURRENCY": str(THREADS),
            "COURIER_SEAL_KEY": os.environ.get("COURIER_SEAL_KEY") or generate_key(),
            "BENCH_REDIS_URL": bench_redis_url(),
        }
    )
    budgets = [40.0] if args.quick else [40.0, QUOTA]
    emulator_args = ["--users", str(SYNTHETIC_USERS), "--rate-user-resource-read", f"{QUOTA:g}"]
    began = time.monotonic()
    if args.budget is not None or args.over_budget:
        _budget_runs(args, emulator_args)
        print(f"\n(whole benchmark: {time.monotonic() - began:.0f} s)")
        return
    with running_emulator_process(*emulator_args) as emulator:
        os.environ["COURIER_COGNITO_ENDPOINT_URL"] = emulator.endpoint_url
        steady_rows: list[tuple[str, float, Steady]] = []
        for budget in budgets:
            for name, pipeline in (
                ("cognito-courier", "courier"),
                ("Celery rate_limit=B/4 x 4 workers", "celery"),
            ):
                run = steady(emulator, budget=budget, seconds=seconds, pipeline=pipeline)
                steady_rows.append((name, budget, run))
        halving_rows: list[tuple[str, Halving]] = [
            (
                "cognito-courier",
                quota_halves(emulator, seconds=halving_seconds, pipeline="courier"),
            )
        ]
        if not args.quick:
            halving_rows.append(
                (
                    "Celery rate_limit=B/4 x 4 workers",
                    quota_halves(emulator, seconds=halving_seconds, pipeline="celery"),
                )
            )
        priority_run = priority(emulator, seconds=seconds)
    _print_steady(steady_rows)
    print()
    _print_halving(halving_rows)
    print()
    _print_priority(priority_run)
    print(f"\n(whole benchmark: {time.monotonic() - began:.0f} s)")


def _budget_runs(args: argparse.Namespace, emulator_args: list[str]) -> None:
    """``--over-budget`` (default 2 x 4) or ``--budget`` (default 4 x 8; beside the
    default-quota run B=40, Q=50 with the same fleet)."""
    quota = args.quota or QUOTA
    shape = Shape(args.workers or (2 if args.over_budget else WORKERS), args.threads or THREADS)
    with running_emulator_process(*emulator_args) as emulator:
        os.environ["COURIER_COGNITO_ENDPOINT_URL"] = emulator.endpoint_url
        if args.over_budget:
            seconds = 40.0 if args.quick else args.seconds
            runs = [
                over_budget(
                    emulator,
                    USERS.take(int(quota * seconds)),
                    budget=times * quota,
                    quota=quota,
                    shape=shape,
                    seconds=seconds,
                )
                for times in (10, 200)
            ]
            print_over_budget(runs, shape)
            return
        rows = [
            (
                f"raised quota Q={quota:g}",
                args.budget,
                steady(
                    emulator,
                    budget=args.budget,
                    seconds=args.seconds,
                    pipeline="courier",
                    quota=quota,
                    shape=shape,
                ),
            ),
            (
                f"default quota Q={QUOTA:g}",
                40.0,
                steady(
                    emulator,
                    budget=40.0,
                    seconds=args.seconds,
                    pipeline="courier",
                    shape=shape,
                ),
            ),
        ]
    title = f"budget runs: {shape.workers} courier worker processes x {shape.threads} threads"
    _print_steady([(f"cognito-courier {name}", b, s) for name, b, s in rows], title)


if __name__ == "__main__":
    main()
