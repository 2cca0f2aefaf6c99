"""A real Prometheus (Debian's ``prometheus``, installed by ``.ci/run``) scrapes a real
worker and a real front, loads the alert rules and answers every dashboard query.

The scrape config gives both targets ``namespace="observe"`` (as the Prometheus Operator
does) and their own ``job``; each dashboard query runs with the dashboard's ``$namespace``
and ``$job`` variables at ``All`` (``.*``). Every query must evaluate, the ones the
stack feeds must return the installation's series, and every rule must load healthy.
``pytest -s`` prints what Prometheus returned for each query (docs/observability.md
quotes a run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.support.dashboards import ALERTS, dashboard_queries
from tests.support.polling import wait_until
from tests.support.processes import serving_api
from tests.support.stack import API_TOKEN, Stack
from worker.contrib.redisserver import free_port

NAMESPACE = "observe"


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing in CI: .ci/run installs Debian's prometheus")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    return found


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        document: dict[str, Any] = json.loads(answer.read())
    return document


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus scraping the stack's worker and a front every second; its URL."""
    binary = prometheus_binary()
    folder = tmp_path_factory.mktemp("prometheus")
    front_port, port = free_port(), free_port()
    env = {**stack.env, "COURIER_API_TOKENS": API_TOKEN}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [target], "labels": {"namespace": NAMESPACE}}],
            }
            for job, target in (
                ("courier-worker", f"127.0.0.1:{stack.metrics_port}"),
                ("courier-api", f"127.0.0.1:{front_port}"),
            )
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with serving_api(env, log_path=folder / "api.log", port=front_port):
        with (folder / "prometheus.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=log,
            )
        url = f"http://127.0.0.1:{port}"
        try:

            def ready() -> bool:
                assert process.poll() is None, (folder / "prometheus.log").read_text()
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                        return bool(answer.status == 200)
                except OSError:
                    return False

            wait_until(ready, timeout_seconds=60, what="Prometheus ready")
            # Ready is not scraped: Prometheus applies discovered targets on a 5 s tick, so
            # its first scrape may come seconds later. A job that failed before then leaves
            # the failed-delivery series' first sample at 1 (its 0 never scraped), and
            # increase() over it stays empty. Yield once both targets were scraped.
            print(f"Prometheus ready; up then: {_up(url)}")
            wait_until(
                lambda: _up(url) == {"courier-worker": "1", "courier-api": "1"},
                timeout_seconds=30,
                what="Prometheus's first scrape of the worker and the front",
            )
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _up(url: str) -> dict[str, str]:
    """``up`` by job, as Prometheus has it now (empty before its first scrape)."""
    return {s["metric"]["job"]: s["value"][1] for s in query(url, "up")}


def query(url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (Prometheus's own evaluation; an error fails)."""
    answer = _get(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    assert answer["status"] == "success", (expr, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def test_a_real_prometheus_answers_every_dashboard_query_per_installation(
    stack: Stack, prometheus: str
) -> None:
    stack.emulator.handle.script(
        operation="ResendConfirmationCode",
        username="user0000085",
        errors=["TooManyRequestsException"],
    )
    for job_id in stack.submit("user0000084", "user0000085", "no-such-user-85"):
        stack.wait_terminal(job_id)
    # two scrapes after the jobs, so rate() over [1m] has a difference to show
    wait_until(
        lambda: query(prometheus, 'increase(courier_deliveries_total{outcome="failed"}[1m]) > 0'),
        timeout_seconds=60,
        what="the failed delivery seen by Prometheus",
    )
    answered: dict[str, list[tuple[dict[str, str], str]]] = {}
    for expr in dashboard_queries():
        concrete = expr.replace("$namespace", ".*").replace("$job", ".*")
        answered[expr] = [(s["metric"], s["value"][1]) for s in query(prometheus, concrete)]
    for expr, samples in answered.items():
        print(f"{expr}\n  -> {samples}")
        for labels, _ in samples:
            if labels:  # vector(0) alone has none; everything else names its installation
                assert labels.get("namespace") == NAMESPACE, (expr, labels)
                assert labels.get("job") in ("courier-worker", "courier-api"), (expr, labels)
    workers = next(
        v
        for e, v in answered.items()
        if e.startswith("count by (namespace, job) (courier_worker_threads")
    )
    assert workers == [({"namespace": NAMESPACE, "job": "courier-worker"}, "1")]
    backlog = next(
        v for e, v in answered.items() if e.startswith("max by (namespace, job) (courier_backlog")
    )
    assert [labels["job"] for labels, _ in backlog] == ["courier-api"]
    failures = next(v for e, v in answered.items() if "outcome!=" in e)
    assert any(labels.get("error_code") == "UserNotFoundException" for labels, _ in failures)
    empty = [expr for expr, samples in answered.items() if not samples]
    # Only what this stack cannot feed may be empty: no campaign paused, no redelivery...
    assert len(empty) <= len(answered) // 3, empty


def test_a_real_prometheus_loads_every_alert_rule_healthy(prometheus: str) -> None:
    def loaded() -> list[dict[str, Any]] | None:
        groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return (
            rules
            if rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules)
            else None
        )

    rules = wait_until(loaded, timeout_seconds=30, what="the rules evaluated once")
    wanted = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]}
    assert {rule["name"] for rule in rules} == wanted
    for rule in rules:
        assert rule["health"] == "ok", rule
    firing = {rule["name"] for rule in rules if rule["state"] != "inactive"}
    # Workers and the front are scraped: neither absent() rule may be pending or firing.
    assert not firing & {"CourierWorkerMetricsAbsent", "CourierClusterMetricsAbsent"}, firing
