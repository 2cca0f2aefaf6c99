"""The Grafana dashboard and the Prometheus alert rules parse, and every metric they use is
served: by a real worker's ``/metrics`` or by a real front's cluster view."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.dashboards import ALERTS, DASHBOARD, dashboard_queries
from tests.support.processes import serving
from tests.support.stack import API_TOKEN, Stack
from worker.contrib.redisserver import free_port

# Target labels Prometheus adds to every scraped series (job; namespace from the Prometheus
# Operator or kubernetes_sd relabelling): one (namespace, job) is one installation.
INSTALLATION = {"namespace", "job"}
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
    aggregations: list[tuple[str, set[str]]] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)


def used_by(expr: str) -> Used:
    """Parse ``expr`` (promql-parser: a syntax error raises) and collect what it names."""
    used = Used()

    def walk(node: Any) -> None:
        name = type(node).__name__
        if name == "VectorSelector":
            labels = {m.name for m in node.matchers.matchers}
            used.selectors.append((node.name, labels))
            return
        if name == "AggregateExpr":
            labels = set(node.modifier.labels) if node.modifier is not None else set()
            used.grouping |= labels
            used.aggregations.append((str(node.op), labels))
        if name == "Call":
            used.functions.add(node.func.name)
        for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(child, str | int | float):
                walk(child)
        for child in getattr(node, "args", None) or []:
            walk(child)

    walk(promql_parser.parse(expr))
    return used


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
        assert labels - INSTALLATION <= served_labels, (name, labels - served_labels)
        labels_in_reach |= served_labels
    assert used.grouping - INSTALLATION <= labels_in_reach, used.grouping - labels_in_reach


@pytest.mark.parametrize("expr", dashboard_queries())
def test_every_panel_is_per_installation(expr: str) -> None:
    """Each panel keeps namespace and job (``by (namespace, job, ...)``) and is filtered by
    the dashboard's ``$namespace`` and ``$job`` variables, so it names the installation."""
    used = used_by(expr)
    assert used.aggregations, expr
    for op, labels in used.aggregations:
        assert labels >= INSTALLATION, (op, labels)
    for name, labels in used.selectors:
        if name:  # vector(0) is no selector
            assert labels >= INSTALLATION, (name, labels)


def test_the_dashboard_chooses_installations() -> None:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in document["templating"]["list"]}
    for name in INSTALLATION:
        assert variables[name]["type"] == "query"
        assert variables[name]["includeAll"]
        assert variables[name]["allValue"] == ".*"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_every_rule_is_per_installation_or_absent(rule: dict[str, Any]) -> None:
    """A rule aggregates by (namespace, job), or is an ``absent()`` rule about all of them."""
    used = used_by(rule["expr"])
    if not used.aggregations:
        assert used.functions == {"absent"}, rule["alert"]
        return
    for op, labels in used.aggregations:
        assert labels >= INSTALLATION, (rule["alert"], op, labels)
