"""A budget per Region: each Region's limiter keeps its own budget + 1 in any second, its
own adaptive rate and its own overrides, on the real test Redis."""

from __future__ import annotations

import threading
import time
from typing import cast

import redis

from tests.support.backends import make_config
from worker.ratelimit import REGIONS_KEY, Category, Priority, RegionalLimiters

URR = Category.USER_RESOURCE_READ


def _grants_per_window(stamps: list[float]) -> int:
    """The most grants in any 1-second window starting at a grant."""
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps[i:] if t < s + 1.0) for i, s in enumerate(stamps))


def test_two_regions_each_get_the_whole_budget(real_redis: redis.Redis) -> None:
    limiters = RegionalLimiters(real_redis, make_config(5.0))
    stamps: dict[str, list[float]] = {"eu-west-1": [], "us-east-1": []}
    lock = threading.Lock()

    def take(region: str) -> None:
        limiter = limiters.for_region(region)
        for _ in range(8):
            limiter.acquire(URR, priority=Priority.INTERACTIVE, timeout_seconds=10)
            with lock:
                stamps[region].append(time.monotonic())

    threads = [threading.Thread(target=take, args=(r,)) for r in stamps for _ in range(2)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    # 16 permits a Region at 5/s: ~3 s when the Regions run side by side, ~6 s if shared
    assert elapsed < 4.5, elapsed
    for region, times in stamps.items():
        assert len(times) == 16
        assert _grants_per_window(times) <= 6, region  # budget + 1 in any second
    assert limiters.seen() == ["eu-west-1", "us-east-1"]
    members = cast("set[bytes]", real_redis.smembers(REGIONS_KEY))
    assert {m.decode() for m in members} == set(stamps)
    real_redis.delete(REGIONS_KEY)  # lost (a Redis without persistence): the next permit
    limiters.for_region("eu-west-1").try_acquire(URR, priority=Priority.BULK)  # records it
    assert limiters.seen() == ["eu-west-1"]


def test_overrides_throttles_and_resets_stay_in_their_region(real_redis: redis.Redis) -> None:
    limiters = RegionalLimiters(real_redis, make_config(20.0))
    eu, us = limiters.for_region("eu-west-1"), limiters.for_region("us-east-1")
    eu.set_budget(URR, 8.0)
    limiters.set_every_region_budget(URR, 12.0)
    assert eu.state(URR).budget_per_second == 8.0  # its own override wins
    assert us.state(URR).budget_per_second == 12.0  # the budget of every Region
    us.report_throttle(URR)
    assert us.state(URR).throttles == 1
    assert us.state(URR).rate_per_second < 12.0
    assert eu.state(URR).throttles == 0
    assert eu.state(URR).rate_per_second == 8.0
    assert (eu.state(URR).region, us.state(URR).region) == ("eu-west-1", "us-east-1")
    eu.reset(URR)
    assert eu.state(URR).budget_per_second == 12.0
    limiters.set_every_region_budget(URR, None)
    assert eu.state(URR).budget_per_second == 20.0
    assert all(":eu-west-1:{" in key for key in eu.keys(URR))


def test_a_budget_set_by_the_first_key_scheme_still_applies(real_redis: redis.Redis) -> None:
    """`courier limit set` before Regions wrote ``courier:rl:{UserResourceRead}:budget``."""
    real_redis.set("courier:rl:{UserResourceRead}:budget", "6.0")
    limiter = RegionalLimiters(real_redis, make_config(20.0)).for_region("sa-east-1")
    assert limiter.state(URR).budget_per_second == 6.0
