"""The deploy files parse and agree with the code (no Docker engine needed).

Compose and Kubernetes YAML load; every ``COURIER_*`` variable they (and the scripts, the
Dockerfile and docs/deploy.md) name is a field of :class:`worker.settings.Settings`; the
start scripts pass ``bash -n`` and end in ``exec``; Services select their Deployments; the
worker's grace period covers a task's longest run.
"""

from __future__ import annotations

import math
import re
import runpy
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from worker.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SCRIPTS = sorted((DEPLOY / "scripts").glob("*.sh"))
K8S = DEPLOY / "k8s"
# Variables that are not ours but that the stack sets on purpose.
OTHER_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "FLOWER_BASIC_AUTH"}
VARIABLE = re.compile(r"\bCOURIER_[A-Z0-9_]+\b")


def _known_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"COURIER_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
    return names


def _k8s_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _containers(kind: str = "Deployment") -> list[dict[str, Any]]:
    return [
        container
        for doc in _k8s_documents()
        if doc["kind"] == kind
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def _compose_environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


# --- docker compose --------------------------------------------------------------------


def test_compose_has_the_whole_stack() -> None:
    services = _compose()["services"]
    assert {"redis", "emulator", "worker", "api", "flower"} <= set(services)
    assert services["worker"]["command"] == ["start-worker.sh"]
    assert services["api"]["command"] == ["start-api.sh"]
    assert services["flower"]["command"] == ["start-flower.sh"]
    emulator = " ".join(services["emulator"]["command"])
    assert "courier emulator --host 0.0.0.0 --port 9229 --users 1000" in emulator
    assert "COURIER_API_TOKENS" in _compose_environment(services["api"])
    for name in ("worker", "api", "flower"):
        env = _compose_environment(services[name])
        assert env["COURIER_REDIS_URL"].startswith("redis://redis:6379"), name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_workers_and_producers_share_a_seal_key() -> None:
    services = _compose()["services"]
    keys = {_compose_environment(services[name])["COURIER_SEAL_KEY"] for name in ("worker", "api")}
    assert len(keys) == 1


def test_compose_variables_are_settings_fields() -> None:
    known = _known_variables()
    for name, service in _compose()["services"].items():
        for variable in _compose_environment(service):
            assert variable in known | OTHER_VARIABLES, f"{name}: unknown variable {variable}"


def test_compose_dev_settings_load() -> None:
    environment = _compose_environment(_compose()["services"]["api"])
    overrides = {
        k.removeprefix("COURIER_").lower(): re.sub(r"\$\{\w+:-(.*)\}", r"\1", v)
        for k, v in environment.items()
        if k.startswith("COURIER_")
    }
    settings = load_settings(**overrides)
    assert settings.api_tokens
    assert settings.seal_key is not None


# --- Kubernetes ------------------------------------------------------------------------


def test_k8s_manifests_parse_and_kustomization_lists_them() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert "secret.example.yaml" not in kustomization["resources"]  # a template only
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _k8s_documents()}
    assert {
        ("Deployment", "courier-worker"),
        ("Deployment", "courier-api"),
        ("Service", "courier-api"),
        ("Deployment", "courier-flower"),
        ("Service", "courier-flower"),
        ("ConfigMap", "courier-config"),
        ("Secret", "courier-secrets"),
    } <= kinds


def test_k8s_variables_are_settings_fields() -> None:
    known = _known_variables() | OTHER_VARIABLES
    for container in _containers():
        for item in container.get("env", []):
            assert item["name"] in known, f"{container['name']}: {item['name']}"
    for key in _one("ConfigMap", "courier-config")["data"]:
        assert key in known, key
    for key in _one("Secret", "courier-secrets")["stringData"]:
        assert key in known or key.endswith(".json"), key


def test_k8s_references_resolve() -> None:
    secret_keys = set(_one("Secret", "courier-secrets")["stringData"])
    for container in _containers():
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "courier-secrets"
                assert ref["key"] in secret_keys, ref
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] == "courier-config"


def test_k8s_template_holds_no_real_secret() -> None:
    for key, value in _one("Secret", "courier-secrets")["stringData"].items():
        assert "REPLACE_ME" in value or value == "{}", key


def test_k8s_config_is_valid_settings_and_grace_covers_a_task() -> None:
    data = _one("ConfigMap", "courier-config")["data"]
    settings = load_settings(**{k.removeprefix("COURIER_").lower(): v for k, v in data.items()})
    longest = (
        settings.retry_max_seconds
        + settings.permit_wait_max_seconds
        + settings.read_timeout_seconds
    )
    grace = _one("Deployment", "courier-worker")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    assert longest < grace < settings.visibility_timeout_seconds


@pytest.mark.parametrize("component", ["api", "flower"])
def test_k8s_services_select_their_deployment(component: str) -> None:
    service = _one("Service", f"courier-{component}")
    deployment = _one("Deployment", f"courier-{component}")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {
        p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]
    }
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_k8s_pods_run_as_non_root() -> None:
    for doc in _k8s_documents():
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
            assert pod["securityContext"]["runAsUser"] != 0


# --- image and scripts -----------------------------------------------------------------


def test_dockerfile_installs_the_project_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"^RUN pip install \.$", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    for script in SCRIPTS:
        assert f"deploy/scripts/{script.name}" in text, script.name
    assert "deploy/flower/flowerconfig.py" in text


def test_start_scripts() -> None:
    assert {s.name for s in SCRIPTS} == {"start-worker.sh", "start-flower.sh", "start-api.sh"}
    bash = shutil.which("bash")
    assert bash is not None
    for script in SCRIPTS:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "set -o errexit -o nounset -o pipefail" in text, script.name
        commands = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert commands[1].startswith("exec "), script.name
        assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"
        subprocess.run([bash, "-n", str(script)], check=True)


def test_documented_and_scripted_variables_are_settings_fields() -> None:
    known = _known_variables()
    texts = [script.read_text() for script in SCRIPTS]
    texts += [(DEPLOY / "Dockerfile").read_text(), (ROOT / "docs" / "deploy.md").read_text()]
    for text in texts:
        assert set(VARIABLE.findall(text)) <= known, set(VARIABLE.findall(text)) - known


# --- Flower ----------------------------------------------------------------------------


def test_flower_config(monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(DEPLOY / "flower" / "flowerconfig.py")
    monkeypatch.setenv("COURIER_FLOWER_BASIC_AUTH", "ops:one, audit:two")
    config = runpy.run_path(path)
    assert config["basic_auth"] == ["ops:one", "audit:two"]
    assert config["persistent"] is True
    assert config["read_only"] is True
    # History for a day at the budget.
    assert config["max_tasks"] == math.ceil(load_settings().rate_limit * 86_400)
    from flower import urls
    from flower.options import options

    settings = {k: v for k, v in config.items() if not k.startswith("_") and k[0].islower()}
    settings = {k: v for k, v in settings.items() if not callable(v)}
    for name in settings:
        assert name in options, f"{name} is not a Flower option"
    # The control and task-writing routes are gone before Flower builds its app.
    patterns = [str(h[0]) if isinstance(h, tuple) else h.regex.pattern for h in urls.handlers]
    assert not [p for p in patterns if p.startswith(("/api/worker/", "/api/task/async-apply"))]


def test_flower_config_requires_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_FLOWER_BASIC_AUTH", raising=False)
    with pytest.raises(SystemExit, match="COURIER_FLOWER_BASIC_AUTH"):
        runpy.run_path(str(DEPLOY / "flower" / "flowerconfig.py"))
