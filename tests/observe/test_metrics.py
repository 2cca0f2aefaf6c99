"""Worker metrics scraped from a real worker's port; the front's cluster view from Redis."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.polling import wait_until
from tests.support.processes import WorkerProcess, courier, submit_resends
from tests.support.stack import Stack, stack_env
from tests.support.synthetic import CLIENT_ID
from worker.broker.deadletter import REASONS
from worker.contrib.redisserver import PrivateRedis, free_port
from worker.observe.worker_metrics import OPERATIONS, operation_error_codes

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by name and labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value, 0 when it is not there (a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str) -> Samples:
    """GET a /metrics page and parse it."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        return parse(answer.read().decode())


def scrape_worker(stack: Stack) -> Samples:
    """The stack worker's own metrics."""
    return scrape(f"http://127.0.0.1:{stack.metrics_port}/metrics")


def test_a_real_worker_serves_its_delivery_metrics(stack: Stack) -> None:
    before = scrape_worker(stack)
    op = "ResendConfirmationCode"
    stack.emulator.handle.script(
        operation=op, username="user0000050", errors=["TooManyRequestsException"]
    )
    sent, refused, throttled = stack.submit("user0000049", "nobody-here", "user0000050")
    assert stack.wait_terminal(sent) == "succeeded"
    assert stack.wait_terminal(refused) == "failed"
    assert stack.wait_terminal(throttled) == "succeeded"

    def counted() -> Samples | None:
        after = scrape_worker(stack)
        done = value(after, "courier_job_duration_seconds_count", operation=op, outcome="succeeded")
        started = value(
            before, "courier_job_duration_seconds_count", operation=op, outcome="succeeded"
        )
        return after if done - started >= 2 else None

    after = wait_until(counted, timeout_seconds=10, what="the worker's counters")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("courier_deliveries_total", operation=op, outcome="succeeded", error_code="") == 2
    assert (
        delta(
            "courier_deliveries_total",
            operation=op,
            outcome="failed",
            error_code="UserNotFoundException",
        )
        == 1
    )
    assert delta("courier_attempts_total", operation=op, result="succeeded") == 2
    assert delta("courier_attempts_total", operation=op, result="TooManyRequestsException") == 1
    assert delta("courier_attempts_total", operation=op, result="UserNotFoundException") == 1
    assert delta("courier_throttles_total", operation=op) == 1
    assert delta("courier_permit_wait_seconds_count", priority="interactive") == 4
    assert delta("courier_job_duration_seconds_count", operation=op, outcome="failed") == 1
    # The duration runs from submission: never negative, never absurd here.
    assert 0 < delta("courier_job_duration_seconds_sum", operation=op, outcome="failed") < 30


def test_the_front_shows_queues_oldest_job_and_campaigns(
    idle_redis: PrivateRedis, front_url: str, tmp_path: Path
) -> None:
    env = stack_env(idle_redis.url, "http://127.0.0.1:9")
    submitted_at = time.time()
    submit_resends(env, CLIENT_ID, ["user0000001", "user0000002", "user0000003"])
    users = tmp_path / "users.txt"
    users.write_text("\n".join(f"user{n:07d}" for n in range(10, 20)) + "\n", encoding="utf-8")
    done = courier(
        "campaign", "start", "--client-id", CLIENT_ID, "--file", str(users), "--json", env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    campaign_id = json.loads(done.stdout)["id"]
    paused = courier("campaign", "pause", campaign_id, "--json", env=env)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    time.sleep(1.1)  # the oldest job is at least a second old

    samples = scrape(f"{front_url}/metrics")
    assert value(samples, "courier_queue_length", queue="interactive") == 3
    assert value(samples, "courier_queue_length", queue="bulk") >= 1  # the ingest task
    age = value(samples, "courier_oldest_queued_job_age_seconds")
    assert 1.0 <= age <= time.time() - submitted_at + 1
    assert value(samples, "courier_campaigns", state="paused") == 1
    assert value(samples, "courier_campaigns", state="running") == 0
    rows = sum(v for (name, _), v in samples.items() if name == "courier_campaign_rows")
    assert rows in (0, 10)  # rows appear once ingested (no worker here: maybe not yet)
    # A paused campaign is not work to do now: the backlog is the 3 interactive jobs.
    assert value(samples, "courier_backlog") == 3
    # Nothing was dead-lettered: every reason is served, at 0.
    for reason in REASONS:
        assert samples[("courier_dead_lettered_total", frozenset({("reason", reason)}))] == 0


def test_a_fresh_worker_serves_every_known_counter_at_zero(
    idle_redis: PrivateRedis, tmp_path: Path
) -> None:
    """Before its first job a worker already serves each counter for every operation and
    each error code of botocore's model, at 0: the first failure after a restart is an
    increase, not a series that appears at 1."""
    port = free_port()
    env = stack_env(idle_redis.url, "http://127.0.0.1:9", metrics_port=port)
    worker = WorkerProcess("fresh", env, tmp_path).start()
    try:
        samples = wait_until(
            lambda: _scrape_when_up(f"http://127.0.0.1:{port}/metrics"),
            timeout_seconds=60,
            what="the fresh worker serves /metrics",
        )
    finally:
        worker.stop()
    for operation in OPERATIONS:
        codes = operation_error_codes(operation)
        assert "UserNotFoundException" in codes
        assert "CodeDeliveryFailureException" in codes
        for code in codes:
            labels = {"operation": operation, "outcome": "failed", "error_code": code}
            key = ("courier_deliveries_total", frozenset(labels.items()))
            assert samples[key] == 0, key
            assert (
                samples[
                    (
                        "courier_attempts_total",
                        frozenset({("operation", operation), ("result", code)}),
                    )
                ]
                == 0
            )
        assert samples[("courier_throttles_total", frozenset({("operation", operation)}))] == 0
    for priority in ("interactive", "bulk"):
        assert (
            samples[("courier_permit_wait_seconds_count", frozenset({("priority", priority)}))] == 0
        )


def _scrape_when_up(url: str) -> Samples | None:
    try:
        return scrape(url)
    except OSError:
        return None


def test_a_worker_whose_metrics_port_is_taken_stops_and_says_so(
    idle_redis: PrivateRedis, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = stack_env(idle_redis.url, "http://127.0.0.1:9", metrics_port=port)
        worker = WorkerProcess("portless", env, tmp_path).start(wait_ready_seconds=None)
        try:
            status = worker.wait_exit(timeout_seconds=60)
        finally:
            worker.stop()
    assert status != 0
    assert f"cannot serve metrics on 127.0.0.1 port {port}" in worker.log()


def test_garbage_a_real_worker_sets_aside_is_counted_by_reason(stack: Stack) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from worker.broker.deadletter import DeadLetters
    from worker.observe.cluster_metrics import CourierCollector
    from worker.runtime import Runtime
    from worker.settings import load_settings

    stack.client.lpush("interactive", b"\xff\xfe not json at all")
    stack.client.lpush("interactive", json.dumps({"just": "json"}))
    dead = DeadLetters(stack.client)
    wait_until(
        lambda: dead.counts().get("total", 0) >= 2 or None,
        timeout_seconds=30,
        what="the worker dead-letters both items",
    )
    runtime = Runtime.from_settings(load_settings(redis_url=stack.redis_url))
    registry = CollectorRegistry()
    registry.register(CourierCollector(lambda: runtime))
    samples = parse(generate_latest(registry).decode())
    counted = {
        dict(labels)["reason"]: n
        for (name, labels), n in samples.items()
        if name == "courier_dead_lettered_total"
    }
    assert sum(counted.values()) == dead.counts()["total"] >= 2
    assert {reason for reason, n in counted.items() if n} <= {"undecodable", "not_a_message"}
    assert set(counted) == set(REASONS)  # the others are served at 0
    # The worker keeps serving after setting the garbage aside.
    (job_id,) = stack.submit("user0000042")
    assert stack.wait_terminal(job_id) == "succeeded"
