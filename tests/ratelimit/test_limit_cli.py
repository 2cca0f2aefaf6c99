"""``courier limit`` through typer's CliRunner, on the real test Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from tests.support.backends import REDIS_URL, make_config
from worker.cli.limit import limit_app
from worker.ratelimit import REGIONS_KEY, Category, Priority, RedisRateLimiter


@pytest.fixture
def runner(real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COURIER_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("COURIER_RATE_LIMIT", "30")
    monkeypatch.setenv("COURIER_USERLIST_RATE_LIMIT", "20")
    monkeypatch.setenv("COURIER_BULK_SHARE", "0.75")
    return CliRunner()


def _json(runner: CliRunner, command: str, *args: str, exit_code: int = 0) -> Any:
    result = runner.invoke(limit_app, [command, "--json", *args])
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def test_show_json_lists_every_category(runner: CliRunner) -> None:
    document = _json(runner, "show")
    assert document == {
        "limits": [
            {
                "category": "UserResourceRead",
                "budget_per_second": 30.0,
                "rate_per_second": 30.0,
                "floor_per_second": 1.0,
                "bulk_share": 0.75,
                "bulk_rate_per_second": 22.5,
                "last_throttle_at": None,
                "throttles": 0,
                "region": None,
                "observed_quota_per_second": None,
                "quota_below_budget": False,
            },
            {
                "category": "UserList",
                "budget_per_second": 20.0,
                "rate_per_second": 20.0,
                "floor_per_second": 1.0,
                "bulk_share": 1.0,
                "bulk_rate_per_second": 20.0,
                "last_throttle_at": None,
                "throttles": 0,
                "region": None,
                "observed_quota_per_second": None,
                "quota_below_budget": False,
            },
        ]
    }


def test_set_then_reset(runner: CliRunner) -> None:
    [state] = _json(runner, "set", "12.5", "--category", "userlist")["limits"]
    assert (state["category"], state["budget_per_second"]) == ("UserList", 12.5)
    shown = {s["category"]: s for s in _json(runner, "show")["limits"]}
    assert shown["UserList"]["budget_per_second"] == 12.5
    assert shown["UserResourceRead"]["budget_per_second"] == 30.0
    [state] = _json(runner, "set", "10")["limits"]
    assert state["category"] == "UserResourceRead"
    reset = _json(runner, "reset")["limits"]
    assert [s["budget_per_second"] for s in reset] == [30.0, 20.0]


def test_set_above_the_cognito_quota_warns_on_stderr(runner: CliRunner) -> None:
    result = runner.invoke(limit_app, ["set", "60", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["limits"][0]["budget_per_second"] == 60.0
    assert "above Cognito's default UserResourceRead quota" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "names"),
    [
        (["set", "0"], "InvalidRate", "RATE"),
        (["set", "--", "-3"], "InvalidRate", "RATE"),
        (["set", "1e-15"], "InvalidRate", "0.01 to 10000 calls per second"),
        (["set", "0.001"], "InvalidRate", "0.01 to 10000 calls per second"),
        (["set", "20000"], "InvalidRate", "0.01 to 10000 calls per second"),
        (["set", "inf"], "InvalidRate", "0.01 to 10000 calls per second"),
        (["set", "nan"], "InvalidRate", "0.01 to 10000 calls per second"),
        (["set", "5", "--category", "UserRead"], "InvalidCategory", "'UserRead'"),
        (["reset", "--category", "nope"], "InvalidCategory", "'nope'"),
        (["set", "5", "--region", "Europe"], "InvalidRegion", "'Europe'"),
        (["show", "--region", "eu_west_1"], "InvalidRegion", "'eu_west_1'"),
    ],
)
def test_bad_input_is_named_and_exits_2(
    runner: CliRunner, args: list[str], code: str, names: str
) -> None:
    document = _json(runner, *args, exit_code=2)
    assert set(document["error"]) == {"type", "message"}  # the shape of every command
    assert document["error"]["type"] == code
    assert names in document["error"]["message"]
    result = runner.invoke(limit_app, args)
    assert result.exit_code == 2
    assert names in result.stderr
    assert result.stdout == ""


def test_a_rate_that_is_not_a_number_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(limit_app, ["set", "fast"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "RATE" in result.output


def test_show_prints_a_table(runner: CliRunner) -> None:
    result = runner.invoke(limit_app, ["show"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "UserResourceRead" in result.stdout
    assert "UserList" in result.stdout
    assert "never" in result.stdout


def test_unreachable_redis_exits_3_without_the_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURIER_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    document = _json(runner, "show", exit_code=3)
    assert set(document["error"]) == {"type", "message"}
    assert document["error"]["type"] == "BrokerUnavailable"
    assert "redis://:***@127.0.0.1:1/0" in document["error"]["message"]
    assert "127.0.0.1:1" in document["error"]["message"]
    assert "hunter2" not in json.dumps(document)


def test_bad_configuration_exits_2(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_RATE_LIMIT", "-5")
    document = _json(runner, "show", exit_code=2)
    assert "COURIER_RATE_LIMIT" in document["error"]["message"]


def test_budgets_are_per_region_configured_or_seen(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_redis: redis.Redis
) -> None:
    registry = tmp_path / "clients.json"
    registry.write_text(json.dumps({"web": {"user_pool_id": "eu-west-1_AbC"}}))
    monkeypatch.setenv("COURIER_CLIENTS", str(registry))
    monkeypatch.setenv("COURIER_COGNITO_REGION", "us-east-1")
    real_redis.sadd(REGIONS_KEY, "ap-south-1")  # a worker made a limiter there
    shown = _json(runner, "show")["limits"]
    assert [(s["region"], s["category"]) for s in shown] == [
        (region, category)
        for region in ("ap-south-1", "eu-west-1", "us-east-1")
        for category in ("UserResourceRead", "UserList")
    ]
    [state] = _json(runner, "set", "7", "--region", "eu-west-1")["limits"]
    assert (state["region"], state["budget_per_second"]) == ("eu-west-1", 7.0)
    every = {s["region"]: s["budget_per_second"] for s in _json(runner, "set", "9")["limits"]}
    assert every == {"ap-south-1": 9.0, "eu-west-1": 7.0, "us-east-1": 9.0}  # own one kept
    [state] = _json(runner, "reset", "--region", "eu-west-1", "-c", "UserResourceRead")["limits"]
    assert state["budget_per_second"] == 9.0  # back to the budget of every Region
    reset = _json(runner, "reset")["limits"]
    assert {s["budget_per_second"] for s in reset if s["category"] == "UserResourceRead"} == {30.0}


def test_show_says_when_the_observed_quota_is_below_the_budget(
    runner: CliRunner, real_redis: redis.Redis
) -> None:
    limiter = RedisRateLimiter(real_redis, make_config(30.0, cooldown_seconds=0.05))
    limiter.report_throttle(Category.USER_RESOURCE_READ)  # 30 -> 15: the window starts
    for _ in range(4):  # ~4 calls in 0.3 s, 3 of them refused: about 1/s passes
        limiter.acquire(Category.USER_RESOURCE_READ, priority=Priority.BULK, timeout_seconds=1)
    for _ in range(3):
        limiter.report_throttle(Category.USER_RESOURCE_READ)
    [urr, _] = _json(runner, "show")["limits"]
    assert urr["throttles"] == 2
    assert urr["observed_quota_per_second"] is not None
    assert urr["observed_quota_per_second"] < 30.0
    assert urr["quota_below_budget"] is True
    table = runner.invoke(limit_app, ["show"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "below budget" in table.stdout


def test_a_region_given_a_budget_is_shown_before_any_permit(runner: CliRunner) -> None:
    [state] = _json(runner, "set", "7", "--region", "ap-northeast-3")["limits"]
    assert (state["region"], state["budget_per_second"]) == ("ap-northeast-3", 7.0)
    shown = {(s["region"], s["category"]): s for s in _json(runner, "show")["limits"]}
    assert shown[("ap-northeast-3", "UserResourceRead")]["budget_per_second"] == 7.0
    assert ("ap-northeast-3", "UserList") in shown
