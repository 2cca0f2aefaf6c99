"""The alert rules pass their ``promtool test rules`` cases, and those cases are complete.

``deploy/prometheus/courier-alerts.test.yaml`` holds, for every alert, a case where it
fires and one where it stays silent, and the two-installation cases (prod and staging in
one Prometheus) that must fire for the right one. promtool (Debian's ``prometheus``
package, installed by ``.ci/run``) evaluates them with Prometheus's own engine. Under
``CI=true`` a missing promtool fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "courier-alerts.yaml"
CASES = ROOT / "deploy" / "prometheus" / "courier-alerts.test.yaml"


def promtool() -> str:
    """The promtool binary; skipped outside CI when it is missing, a failure in CI."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def alerts() -> set[str]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {rule["alert"] for group in document["groups"] for rule in group["rules"]}


def cases() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(CASES.read_text(encoding="utf-8"))["tests"]
    return [check for test in tests for check in test.get("alert_rule_test", [])]


def test_promtool_accepts_the_rules_and_passes_every_case(tmp_path: Path) -> None:
    tool = promtool()
    checked = subprocess.run(
        [tool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", CASES.name],
        cwd=CASES.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_fails_a_case_that_expects_the_wrong_installation(tmp_path: Path) -> None:
    """The cases can fail: the same prod outage expected of staging is refused."""
    tool = promtool()
    (tmp_path / RULES.name).write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    wrong = CASES.read_text(encoding="utf-8").replace(
        "namespace: prod\n              job: courier-worker",
        "namespace: staging\n              job: courier-worker",
        1,
    )
    assert wrong != CASES.read_text(encoding="utf-8")
    (tmp_path / CASES.name).write_text(wrong, encoding="utf-8")
    tested = subprocess.run(
        [tool, "test", "rules", CASES.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode != 0
    assert "no worker alive, two installations" in tested.stdout + tested.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    firing = {c["alertname"] for c in cases() if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases() if not c.get("exp_alerts")}
    assert alerts() - firing == set(), "alerts without a firing case"
    assert alerts() - silent == set(), "alerts without a silent case"


def test_alerts_about_one_installation_name_it() -> None:
    """Every firing case of a per-installation alert expects its namespace and job; two
    installations appear in the cases of each alert that aggregates ``by (namespace, job)``."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = {r["alert"]: r for g in document["groups"] for r in g["rules"]}
    per_installation = {name for name, r in rules.items() if "by (namespace, job)" in r["expr"]}
    assert per_installation, "no rule aggregates by installation"
    for name in per_installation:
        assert "$labels.namespace" in rules[name]["annotations"]["summary"], name
        expected = [a for c in cases() if c["alertname"] == name for a in c.get("exp_alerts", [])]
        assert expected, name
        for alert in expected:
            assert {"namespace", "job"} <= set(alert["exp_labels"]), (name, alert)
    tests = yaml.safe_load(CASES.read_text(encoding="utf-8"))["tests"]
    two = [t for t in tests if "two installations" in t["name"]]
    covered = {c["alertname"] for t in two for c in t["alert_rule_test"]}
    assert per_installation <= covered, per_installation - covered
