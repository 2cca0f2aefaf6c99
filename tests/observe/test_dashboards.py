"""The Grafana dashboard and the Prometheus alert rules parse, and every metric they use is
served: by a real worker's ``/metrics`` or by a real front's cluster view."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.observe.conftest import API_TOKEN, Stack, serving
from worker.contrib.redisserver import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "cognito-courier.json"
ALERTS = ROOT / "deploy" / "prometheus" / "courier-alerts.yaml"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "summary": ("", "_count", "_sum", "_created"),
}


@dataclass
class Used:
    """Metric names and label names one PromQL expression uses."""

    selectors: list[tuple[str, set[str]]] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def used_by(expr: str) -> Used:
    """Parse ``expr`` (promql-parser: a syntax error raises) and collect what it names."""
    used = Used()

    def walk(node: Any) -> None:
        name = type(node).__name__
        if name == "VectorSelector":
            labels = {m.name for m in node.matchers.matchers}
            used.selectors.append((node.name, labels))
            return
        if name == "AggregateExpr" and node.modifier is not None:
            used.grouping |= set(node.modifier.labels)
        for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(child, str | int | float):
                walk(child)
        for child in getattr(node, "args", None) or []:
            walk(child)

    walk(promql_parser.parse(expr))
    return used


def dashboard_queries() -> list[str]:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert document["uid"] == "cognito-courier"
    assert any(v["type"] == "datasource" for v in document["templating"]["list"])
    queries = []
    for panel in document["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        queries += [target["expr"] for target in panel["targets"]]
    return queries


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    return rules


def test_the_rules_and_the_dashboard_parse_and_cover_the_issue() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    # The alerts operators need, each on the metric that says it.
    wanted = {
        "CourierThrottlesRising": "courier_throttles_total",
        "CourierCampaignPaused": "courier_campaigns",
        "CourierOldestQueuedJobTooOld": "courier_oldest_queued_job_age_seconds",
        "CourierNoWorkerAlive": "courier_worker_threads",
    }
    for alert, metric in wanted.items():
        names = {name for name, _ in used_by(rules[alert]["expr"]).selectors}
        assert metric in names, (alert, names)
    for query in dashboard_queries():
        assert used_by(query).selectors, query
    with pytest.raises(ValueError, match="parenthesis"):  # the parser does refuse nonsense
        promql_parser.parse("sum(rate(courier_throttles_total[5m]) by")


def _families(url: str) -> dict[str, tuple[str, set[str]]]:
    """Sample name -> (family type, label names seen), from a real /metrics page."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    names: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        labels = {label for sample in family.samples for label in sample.labels}
        for suffix in SUFFIXES.get(family.type, ("",)):
            names[f"{family.name}{suffix}"] = (family.type, labels)
    return names


@pytest.fixture(scope="module")
def served(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every sample name the stack's worker and a front on the stack's Redis serve."""
    stack.emulator.handle.script(
        operation="ResendConfirmationCode",
        username="user0000080",
        errors=["TooManyRequestsException"],
    )
    for job_id in stack.submit("user0000080", "no-such-user"):
        stack.wait_terminal(job_id)
    port = free_port()
    env = {**stack.env, "COURIER_API_TOKENS": API_TOKEN}
    log_path = tmp_path_factory.mktemp("front") / "api.log"
    with serving(
        ["api", "--port", str(port)], env=env, log_path=log_path, health_path="/healthz", port=port
    ) as url:
        names = _families(f"http://127.0.0.1:{stack.metrics_port}/metrics")
        names.update(_families(f"{url}/metrics"))
        yield names


@pytest.mark.parametrize(
    "expr",
    [rule["expr"] for rule in alert_rules()] + dashboard_queries(),
)
def test_every_metric_and_label_used_is_served(expr: str, served: dict[str, Any]) -> None:
    used = used_by(expr)
    labels_in_reach: set[str] = set()
    for name, labels in used.selectors:
        assert name in served, f"{name} is served by neither the worker nor the front"
        kind, served_labels = served[name]
        if kind == "histogram":
            served_labels = served_labels | {"le"}
        assert labels <= served_labels, (name, labels - served_labels)
        labels_in_reach |= served_labels
    assert used.grouping <= labels_in_reach, used.grouping - labels_in_reach
