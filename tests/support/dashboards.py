"""The alert rules and dashboard queries the observe tests read."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "cognito-courier.json"
ALERTS = ROOT / "deploy" / "prometheus" / "courier-alerts.yaml"


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
