"""What is particular to each backend: the stub's manual clock, the Redis keys and scripts."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from tests.support.backends import REDIS_URL, make_config
from worker.errors import PermitTimeoutError
from worker.ratelimit import (
    CampaignShare,
    Category,
    Grant,
    LimiterConfig,
    ManualClock,
    Priority,
    RedisRateLimiter,
    StubRateLimiter,
    make_regional_limiters,
)
from worker.settings import load_settings

URR = Category.USER_RESOURCE_READ


def test_stub_on_a_manual_clock_is_instant_and_exact() -> None:
    clock = ManualClock()
    grants: list[Grant] = []
    limiter = StubRateLimiter(
        make_config(10.0), clock=clock, sleep=clock.sleep, on_grant=grants.append
    )
    start = clock()
    waits = [limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=1.0) for _ in range(5)]
    # a quarter period early once after the pause, then exactly one period apart
    assert waits == pytest.approx([0.0, 0.075, 0.1, 0.1, 0.1])
    assert [g.granted_at - start for g in grants] == pytest.approx([0, 0.075, 0.175, 0.275, 0.375])
    with pytest.raises(PermitTimeoutError):
        limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=0.05)
    assert clock() - start == pytest.approx(0.375)  # refused without sleeping


def test_stub_recovery_on_a_manual_clock() -> None:
    clock = ManualClock()
    limiter = StubRateLimiter(
        make_config(20.0, recovery_seconds=9.0), clock=clock, sleep=clock.sleep
    )
    limiter.report_throttle(URR)
    assert limiter.state(URR).rate_per_second == pytest.approx(10.0)
    limiter.report_throttle(URR)  # same burst
    clock.advance(3.0)  # climbs ceiling / recovery = 20 / 9 calls/s per second
    state = limiter.state(URR)
    assert state.rate_per_second == pytest.approx(10.0 + 3.0 * 20.0 / 9.0)
    assert state.throttles == 1
    assert state.last_throttle_at == pytest.approx(clock() - 3.0)
    clock.advance(10.0)
    assert limiter.state(URR).rate_per_second == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"budgets": {URR: 1.0}}, "no budget configured for UserList"),
        ({"budgets": {URR: 0.0, Category.USER_LIST: 1.0}}, "UserResourceRead budget"),
        ({"bulk_shares": {URR: 1.5}}, "bulk share"),
        ({"floor_per_second": 0.0}, "floor_per_second"),
        ({"decrease_factor": 1.0}, "decrease_factor"),
        ({"recovery_seconds": -1.0}, "recovery_seconds"),
    ],
)
def test_config_checks_itself(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"budgets": {URR: 1.0, Category.USER_LIST: 1.0}} | changes
    with pytest.raises(ValueError, match=message):
        LimiterConfig(**arguments)  # type: ignore[arg-type]


def test_config_from_settings() -> None:
    settings = load_settings(
        rate_limit=33.0,
        userlist_rate_limit=7.0,
        bulk_share=0.6,
        rate_floor_per_second=2.5,
        rate_decrease_factor=0.7,
        rate_recovery_seconds=12.0,
    )
    limiter = make_regional_limiters(settings, fakeredis.FakeRedis()).every_region
    urr, user_list = limiter.state(URR), limiter.state(Category.USER_LIST)
    assert (urr.budget_per_second, urr.bulk_share) == (33.0, 0.6)
    assert urr.floor_per_second == pytest.approx(2.5)  # absolute, not a fraction of 33
    assert (user_list.budget_per_second, user_list.bulk_share) == (7.0, 1.0)
    assert limiter.config.decrease_factor == 0.7
    assert limiter.config.recovery_seconds == 12.0


@pytest.mark.parametrize("decode", [False, True])
def test_redis_keys_are_namespaced_tagged_and_expire(real_redis: redis.Redis, decode: bool) -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=decode)
    limiter = RedisRateLimiter(client, make_config(10.0))
    limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=1.0, campaign=CampaignShare("c1"))
    limiter.try_acquire(URR, priority=Priority.BULK)
    limiter.try_acquire(URR, priority=Priority.INTERACTIVE)  # refused: leaves a marker
    limiter.set_budget(URR, 12.0)
    limiter.report_throttle(URR)
    prefix = "courier:rl:{UserResourceRead}:"
    keys = {k.decode() if isinstance(k, bytes) else k for k in real_redis.keys("courier:rl:*")}
    fixed = ("budget", "adapt", "tat", "bulk_tat", "waiting", "campaigns", "campaign_weights")
    assert keys == {prefix + name for name in fixed} | {prefix + "campaign:c1:tat"}
    assert set(limiter.keys(URR)) == {prefix + name for name in fixed}
    for name in ("tat", "bulk_tat", "waiting", "campaign:c1:tat"):
        assert 0 < real_redis.pttl(prefix + name) <= 2_000
    for name in ("campaigns", "campaign_weights"):  # 3 s after the last request, plus 1
        assert 0 < real_redis.pttl(prefix + name) <= 4_000
    limiter.reset(URR)
    assert real_redis.keys("courier:rl:*") == []
    client.close()


@pytest.mark.parametrize("kind", ["fakeredis", "redis"])
def test_scripts_reload_after_a_script_flush(kind: str, request: pytest.FixtureRequest) -> None:
    client: redis.Redis = (
        fakeredis.FakeRedis() if kind == "fakeredis" else request.getfixturevalue("real_redis")
    )
    limiter = RedisRateLimiter(client, make_config(10.0))
    assert limiter.try_acquire(URR, priority=Priority.BULK) == 0.0
    client.script_flush()
    assert limiter.acquire(URR, priority=Priority.BULK, timeout_seconds=1.0) < 0.5
    limiter.report_throttle(URR)
    client.script_flush()
    assert limiter.state(URR).throttles == 1
