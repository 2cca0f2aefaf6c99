"""The deploy manifests work as shipped: valid for a pinned Kubernetes, scraped by the
Prometheus Operator, scaled by KEDA alone, with the client registry and IAM where needed;
the image pinned, healthy and exposing its ports; every compose service restarted and
health-checked.

Validation is offline: kubernetes-validate bundles the schemas of each Kubernetes release
(one test runs it in a network namespace of its own to show it). The custom resources
(KEDA's ScaledObject, the Prometheus Operator's PodMonitor) are checked against schemas of
the fields these manifests use, written from the projects' API references; the upstream
CRDs are not vendored here.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.deployfiles import DEPLOY, K8S, K8S_KEDA, ROOT, missing_tool
from tests.support.kustomize import kustomize

KUBERNETES_VERSION = "1.31.0"
"""The Kubernetes release the manifests are validated against (an EKS/GKE-supported one)."""
FLOWER_BYTES_PER_TASK_ON_DISK = 660
"""Flower's saved state per task, measured for issue 20 (a day at 40/s: about 2.3 GB)."""

_SCALED_OBJECT = {  # keda.sh/v1alpha1 ScaledObject: the fields used here (KEDA 2.x API)
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "apiVersion": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "prometheus"},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                                "required": ["serverAddress", "query", "threshold"],
                            },
                        },
                    },
                },
            },
        },
    },
}
_POD_MONITOR = {  # monitoring.coreos.com/v1 PodMonitor (Prometheus Operator API reference)
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {"matchLabels": {"type": "object"}},
                    "required": ["matchLabels"],
                },
                "podMetricsEndpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(s|m)$"},
                        },
                    },
                },
            },
        },
    },
}
_CUSTOM = {"ScaledObject": _SCALED_OBJECT, "PodMonitor": _POD_MONITOR}


def rendered(folder: Path) -> list[dict[str, Any]]:
    documents = kustomize(folder)
    if documents is None:
        missing_tool("kubectl is not installed")
        pytest.skip("kubectl is not installed")
    return documents


def by_kind(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("folder", [K8S, K8S_KEDA], ids=["base", "keda"])
def test_every_manifest_is_valid_for_the_pinned_kubernetes(folder: Path) -> None:
    for document in rendered(folder):
        kind = document["kind"]
        if kind in _CUSTOM:
            jsonschema.validate(document, _CUSTOM[kind])
            continue
        # strict: an unknown or misspelt field is an error, not silently dropped
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_a_broken_manifest() -> None:
    deployment = by_kind(rendered(K8S), "Deployment", "courier-worker")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    scaled = by_kind(rendered(K8S_KEDA), "ScaledObject", "courier-worker")
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 2000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, _SCALED_OBJECT)


def test_validation_needs_no_network(tmp_path: Path) -> None:
    """The command line, in a network namespace with no interface up: no schema download."""
    unshare = shutil.which("unshare")
    tool = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "kubernetes-validate"
    if not tool.exists():
        tool = ROOT / ".venv" / "bin" / "kubernetes-validate"
    if unshare is None or os.geteuid() != 0:
        missing_tool("unshare as root is needed for a network namespace")
        pytest.skip("no unshare as root")
    documents = [d for d in rendered(K8S) if d["kind"] not in _CUSTOM]
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    done = subprocess.run(
        [unshare, "--net", str(tool), "-k", KUBERNETES_VERSION, "--strict", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == len(documents), done.stdout


def test_keda_owns_the_worker_count_and_prometheus_operator_scrapes_both() -> None:
    documents = rendered(K8S_KEDA)
    worker = by_kind(documents, "Deployment", "courier-worker")
    assert "replicas" not in worker["spec"]  # no fight with the HPA on every apply
    assert "replicas" in by_kind(rendered(K8S), "Deployment", "courier-worker")["spec"]
    for component, port in (("worker", "metrics"), ("api", "http")):
        monitor = by_kind(documents, "PodMonitor", f"courier-{component}")
        pod = by_kind(documents, "Deployment", f"courier-{component}")["spec"]["template"]
        assert (
            monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        )
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        (container,) = pod["spec"]["containers"]
        assert endpoint["port"] == port
        assert port in {p["name"] for p in container["ports"]}
        assert endpoint["path"] == "/metrics"
        assert monitor["metadata"]["namespace"] == "cognito-courier"
    scaled = by_kind(documents, "ScaledObject", "courier-worker")
    (trigger,) = scaled["spec"]["triggers"]
    # The Prometheus Operator gives every series the `namespace` the query selects.
    assert 'namespace="cognito-courier"' in trigger["metadata"]["query"]
    text = (K8S_KEDA / "scaledobject.yaml").read_text(encoding="utf-8")
    for kind in ("Prometheus Operator", "plain Prometheus", "Amazon Managed Prometheus"):
        assert kind in text  # a serverAddress documented for each kind


def test_workers_and_fronts_read_the_client_registry_and_have_an_iam_role() -> None:
    documents = rendered(K8S)
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text(encoding="utf-8"))
    for component in ("worker", "api"):
        pod = by_kind(documents, "Deployment", f"courier-{component}")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert "COURIER_CLIENT_SECRETS" not in env, component
        path = Path(env["COURIER_CLIENTS"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = {v["name"]: v for v in pod["volumes"]}[mounts[str(path.parent)]]
        assert volume["secret"]["items"] == [{"key": path.name, "path": path.name}]
        assert path.name in secret["stringData"]
        account = by_kind(documents, "ServiceAccount", pod["serviceAccountName"])
        role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", role), role


def test_flowers_volume_holds_its_history() -> None:
    from worker.observe.flower import history_tasks
    from worker.settings import load_settings

    documents = rendered(K8S)
    config = by_kind(documents, "ConfigMap", "courier-config")["data"]
    tasks = history_tasks(load_settings(rate_limit=config["COURIER_RATE_LIMIT"]), hours=24)
    claim = by_kind(documents, "PersistentVolumeClaim", "courier-flower-state")
    size = claim["spec"]["resources"]["requests"]["storage"]
    number, unit = re.fullmatch(r"(\d+)(Gi|Mi)", size).groups()  # type: ignore[union-attr]
    capacity = int(number) * (2**30 if unit == "Gi" else 2**20)
    state = tasks * FLOWER_BYTES_PER_TASK_ON_DISK
    assert capacity >= 2 * state, (size, state)  # the saved state and a save in progress


def test_the_image_is_pinned_healthy_and_exposes_every_port() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    build, run = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", build), build
    assert run == build
    (exposed,) = re.findall(r"^EXPOSE (.+)$", text, flags=re.MULTILINE)
    assert {"8080", "5555", "9808", "9229"} <= set(exposed.split())
    assert re.search(r'^\s+CMD \["courier-healthcheck"\]$', text, flags=re.MULTILINE)
    assert "deploy/scripts/courier-healthcheck" in text


@pytest.mark.parametrize(
    ("argv", "env", "url"),
    [
        (["courier", "api", "--host", "0.0.0.0"], {}, "http://127.0.0.1:8080/healthz"),
        (["courier", "api", "--port", "9000"], {}, "http://127.0.0.1:9000/healthz"),
        (["courier", "flower", "--port", "5555", "--db", "x"], {}, "http://127.0.0.1:5555/healthcheck"),
        (["courier", "worker"], {"COURIER_METRICS_PORT": "9808"}, "http://127.0.0.1:9808/metrics"),
        (["courier", "worker"], {}, None),
        (["courier", "emulator", "--port", "9229"], {}, "http://127.0.0.1:9229/_emulator/health"),
    ],
)  # fmt: skip
def test_the_health_check_asks_the_process_that_runs(
    argv: list[str], env: dict[str, str], url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = runpy.run_path(str(DEPLOY / "scripts" / "courier-healthcheck"))
    monkeypatch.delenv("COURIER_METRICS_PORT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert script["url_to_ask"](argv[1:]) == url


def test_every_compose_service_restarts_and_reports_its_health() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), name
