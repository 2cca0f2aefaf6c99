"""The real thing: several OS processes, each with several threads, on one real Redis."""

from __future__ import annotations

import multiprocessing

import redis

from tests.support.backends import REDIS_URL
from tests.support.hammer import hammer
from tests.support.timing import max_in_window, steady_rate

BUDGET = 20.0
PROCESSES = 4
THREADS = 4
SECONDS = 3.0


def test_processes_never_exceed_budget_plus_one_in_any_second(real_redis: redis.Redis) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    out = context.Queue()
    processes = [
        context.Process(
            target=hammer,
            args=(REDIS_URL,),
            kwargs={
                "budget": BUDGET,
                "seconds": SECONDS,
                "threads": THREADS,
                "barrier": barrier,
                "out": out,
            },
        )
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    grants: list[tuple[float, str]] = []
    for _ in processes:
        grants.extend(out.get(timeout=60))
    for process in processes:
        process.join(timeout=10)
        assert process.exitcode == 0
    out.close()

    times = [t for t, _ in grants]
    assert max_in_window(times) <= BUDGET + 1
    assert steady_rate(times) >= 0.95 * BUDGET
    assert len(times) >= 0.95 * BUDGET * SECONDS
    assert max_in_window([t for t, p in grants if p == "bulk"]) <= BUDGET * 0.5 + 1
