"""The deploy files parse and agree with the code (no Docker engine needed).

Compose and Kubernetes YAML load (and ``docker compose config`` / ``kubectl kustomize``
render them where those tools are installed); every ``COURIER_*`` variable they (and the
scripts, the Dockerfile and docs/deploy.md) name is a field of
:class:`worker.settings.Settings`; the start scripts pass ``bash -n`` and end in ``exec``;
Services and the PodDisruptionBudget select their pods; the worker's grace period covers a
task's longest run; the KEDA trigger's metric is one the front exports; the IAM policy
grants exactly the signed Cognito calls the code makes; the image and ``make install``
install from the same constraints file, which matches the environment under test.
"""

from __future__ import annotations

import importlib.metadata
import json
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

from tests.support.deployfiles import DEPLOY, K8S, K8S_KEDA, ROOT, missing_tool
from tests.support.kustomize import kustomize
from worker.settings import Settings, load_settings

SCRIPTS = sorted((DEPLOY / "scripts").glob("*.sh"))
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
        default = re.sub(r"\$\{\w+:-(.*)\}", r"\1", env["COURIER_REDIS_URL"])
        assert default.startswith("redis://redis:6379"), name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_ha_profile_has_a_replica_and_three_sentinels() -> None:
    services = _compose()["services"]
    ha = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    assert ha == {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert services["redis-replica"]["command"][-3:] == ["--replicaof", "redis", "6379"]
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = services[name]["command"][0]
        assert "sentinel monitor courier redis 6379 2" in script
        assert "--sentinel" in script
    assert (
        load_settings(
            redis_url="sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/courier/0"
        ).redis_target.sentinel
        is not None
    )


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
    assert re.search(r"^COPY .*\bconstraints\.txt\b", text, re.MULTILINE)
    assert re.search(r"^RUN pip install --constraint constraints\.txt \.", text, re.MULTILINE)
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


# --- rendering with the real tools, where installed -------------------------------------


def _tool(*candidates: list[str]) -> list[str] | None:
    """The first command that runs (``--version`` or ``version`` answers 0)."""
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(
            [*command, "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return command
    return None


def test_docker_compose_config_accepts_the_compose_file() -> None:
    compose = _tool(["docker", "compose"], ["docker-compose"])
    if compose is None:
        missing_tool("neither `docker compose` nor `docker-compose` is installed")
        return
    result = subprocess.run(
        [*compose, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("folder", [K8S, K8S_KEDA], ids=["base", "keda"])
def test_kubectl_kustomize_renders_the_manifests(folder: Path) -> None:
    rendered = kustomize(folder)
    if rendered is None:
        missing_tool("kubectl is not installed")
        return
    kinds = {doc["kind"] for doc in rendered}
    assert {"Deployment", "PodDisruptionBudget", "ConfigMap", "Service"} <= kinds
    assert ("ScaledObject" in kinds) is (folder == K8S_KEDA)
    assert {doc["metadata"].get("namespace") for doc in rendered if doc["kind"] != "Namespace"} == {
        "cognito-courier"
    }


# --- scaling, disruption, metrics -------------------------------------------------------


def _worker_pod_labels() -> dict[str, str]:
    labels: dict[str, str] = _one("Deployment", "courier-worker")["spec"]["template"]["metadata"][
        "labels"
    ]
    return labels


def test_pod_disruption_budget_keeps_a_worker_through_drains() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "pdb.yaml" in kustomization["resources"]
    pdb = _one("PodDisruptionBudget", "courier-worker")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"].items() <= _worker_pod_labels().items()
    replicas = _one("Deployment", "courier-worker")["spec"]["replicas"]
    assert 1 <= pdb["spec"]["minAvailable"] < replicas  # a drain can still evict one


def test_keda_scales_workers_on_the_backlog_the_front_exports(runtime: Any) -> None:
    from worker.observe.cluster_metrics import CourierCollector

    kustomization = yaml.safe_load((K8S_KEDA / "kustomization.yaml").read_text())
    assert kustomization["resources"][0] == "../k8s"
    (scaled,) = yaml.safe_load_all((K8S_KEDA / "scaledobject.yaml").read_text())
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["kind"] == "ScaledObject"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "courier-worker"
    pdb = _one("PodDisruptionBudget", "courier-worker")
    assert pdb["spec"]["minAvailable"] < scaled["spec"]["minReplicaCount"]
    assert scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert float(trigger["metadata"]["threshold"]) > 0
    used = set(re.findall(r"\b(courier_[a-z_]+)\b", trigger["metadata"]["query"]))
    assert used == {"courier_backlog"}
    # The metric is one the HTTP front's /metrics really exports (read from a real Redis).
    exported = {family.name for family in CourierCollector(lambda: runtime).collect()}
    assert used <= exported, used - exported


def test_workers_serve_metrics_on_the_port_the_scrapers_are_told() -> None:
    deployment = _one("Deployment", "courier-worker")
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    port = int(env["COURIER_METRICS_PORT"])
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert load_settings(metrics_port=env["COURIER_METRICS_PORT"]).metrics_port == port
    worker = _compose()["services"]["worker"]
    compose_port = _compose_environment(worker)["COURIER_METRICS_PORT"]
    assert str(compose_port) in [str(p) for p in worker["expose"]]
    assert "ports" not in worker  # published host ports would break `--scale worker=N`


def test_compose_workers_restart_whatever_their_exit_status() -> None:
    services = _compose()["services"]
    for name in ("worker", "api"):
        assert services[name]["restart"] == "unless-stopped", name


# --- IAM ----------------------------------------------------------------------------------

# A boto3 cognito-idp call in the production code: ``client.list_users(`` and the like.
_CALL = re.compile(r"\.(list_users|describe_user_pool(?:_client)?|admin_[a-z_]+|[a-z_]+)\(")
_UNSIGNED = {"ResendConfirmationCode", "GetUserAttributeVerificationCode"}


def _signed_cognito_calls() -> set[str]:
    """Cognito operations the production code calls (emulator and demo excluded)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("cognito-idp")
    by_snake = {botocore.xform_name(name): name for name in model.operation_names}
    found = set()
    for folder in ("worker", "tasks"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if (
                relative.startswith("worker/contrib/emulator/")
                or relative == "worker/contrib/demo.py"
            ):
                continue
            for name in _CALL.findall(path.read_text(encoding="utf-8")):
                if name in by_snake:
                    found.add(by_snake[name])
    return found - _UNSIGNED


def test_iam_policy_grants_exactly_the_signed_calls_on_named_pools() -> None:
    policy = json.loads((DEPLOY / "iam" / "courier-policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for resource in statement["Resource"]:
            assert re.fullmatch(
                r"arn:aws:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[a-z0-9-]+_[A-Za-z0-9]+", resource
            ), resource
        actions.update(statement["Action"])
    assert all(a.startswith("cognito-idp:") and "*" not in a for a in actions), actions
    granted = {a.removeprefix("cognito-idp:") for a in actions}
    needed = _signed_cognito_calls()
    assert needed, "found no signed Cognito call in the code: the scan is broken"
    assert granted == needed, f"grant {needed - granted}, remove {granted - needed}"


# --- what is tested is what ships ----------------------------------------------------------


def _constraints() -> dict[str, str]:
    pins = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_environment_under_test_is_the_one_constraints_txt_pins() -> None:
    pins = _constraints()
    installed = {
        re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower(): dist.version
        for dist in importlib.metadata.distributions()
    }
    differing = {
        name: (pinned, installed[name])
        for name, pinned in pins.items()
        if name in installed and installed[name] != pinned
    }
    assert not differing, f"(pinned, installed): {differing}; run make install (or make lock)"
    requirements = importlib.metadata.requires("cognito-courier") or []
    for requirement in requirements:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        if "extra ==" in requirement and "dev" not in requirement and "embedded" not in requirement:
            continue
        if "python_version" in requirement and name.lower() not in installed:
            continue  # an extra whose marker excludes this interpreter
        assert name.lower() in pins, f"{name} is not pinned in constraints.txt"


def test_make_install_and_the_image_use_the_constraints_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-c \$\(CONSTRAINTS\) -e '\.\[dev\]'", makefile)
    assert re.search(r"^CONSTRAINTS := constraints\.txt$", makefile, re.MULTILINE)
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(CONSTRAINTS\)$", makefile, re.MULTILINE)
    assert "pip freeze --exclude-editable" in makefile  # make lock writes it
