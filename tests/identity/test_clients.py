"""The client registry (COURIER_CLIENTS + COURIER_CLIENT_SECRETS) and the default Region."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from worker.errors import ConfigurationError
from worker.identity.clients import ClientInfo, ClientRegistry, pool_region
from worker.identity.regions import default_region
from worker.settings import load_settings

POOL_US = "us-east-1_AbCdEf123"
POOL_EU = "eu-west-1_ZyXw987"


def _write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_registry_reads_pools_secrets_and_case_rules(tmp_path: Path) -> None:
    clients = _write(
        tmp_path,
        "clients.json",
        {
            "web1": {"user_pool_id": POOL_US},
            "web2": {"user_pool_id": POOL_US, "secret": "s3cret"},
            "eu": {"user_pool_id": POOL_EU, "case_sensitive": True},
        },
    )
    secrets = _write(tmp_path, "secrets.json", {"legacy": "old-secret", "web2": "s3cret"})
    registry = load_settings(clients=clients, client_secrets=secrets).client_registry
    assert registry.lookup("web1") == ClientInfo("web1", POOL_US, None, False)
    assert registry.lookup("web2").secret == "s3cret"
    assert registry.lookup("eu").case_sensitive is True
    assert registry.region_for("eu") == "eu-west-1"
    # listed only in COURIER_CLIENT_SECRETS: secret known, pool unknown
    legacy = registry.lookup("legacy")
    assert (legacy.user_pool_id, legacy.secret, legacy.region) == (None, "old-secret", None)
    assert legacy.counting_scope == "client:legacy"
    assert registry.lookup("web1").counting_scope == f"pool:{POOL_US}"
    assert registry.lookup("unlisted") == ClientInfo("unlisted")
    assert registry.configured_regions() == ["eu-west-1", "us-east-1"]
    assert "s3cret" not in repr(registry.lookup("web2"))


def test_the_default_region_of_the_registry_is_courier_cognito_region(tmp_path: Path) -> None:
    settings = load_settings(cognito_region="ap-south-1")
    assert settings.client_registry.region_for("anything") == "ap-south-1"
    assert load_settings().client_registry.region_for("anything") is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"web": {}}, "client 'web': user_pool_id is required"),
        ({"web": {"user_pool_id": "nopool"}}, "client 'web': 'nopool' is not a user pool id"),
        ({"web": {"user_pool_id": "mars_AbC"}}, "client 'web'.*'mars' is not an AWS Region"),
        ({"web": {"user_pool_id": POOL_US, "secret": ""}}, "client 'web': secret must be"),
        ({"web": {"user_pool_id": POOL_US, "case_sensitive": "no"}}, "case_sensitive must be"),
        ({"web": {"user_pool_id": POOL_US, "pool": "x"}}, r"client 'web': unknown field\(s\) pool"),
        ({"we b": {"user_pool_id": POOL_US}}, "client 'we b': not an app client id"),
        ({"web": "us-east-1_AbC"}, "client 'web': must be an object"),
        (["web"], "must be a JSON object keyed by app client id"),
        ("{not json", "is not JSON"),
    ],
)
def test_a_bad_registry_file_stops_start_up_naming_the_entry(
    tmp_path: Path, document: Any, message: str
) -> None:
    path = _write(tmp_path, "clients.json", document)
    with pytest.raises(ConfigurationError, match=f"COURIER_CLIENTS: .*{message}"):
        load_settings(clients=path)


def test_a_missing_registry_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"COURIER_CLIENTS: .*cannot read"):
        load_settings(clients=tmp_path / "absent.json")


def test_two_secrets_for_one_client_must_agree(tmp_path: Path) -> None:
    clients = _write(tmp_path, "c.json", {"web": {"user_pool_id": POOL_US, "secret": "a"}})
    secrets = _write(tmp_path, "s.json", {"web": "b"})
    with pytest.raises(ConfigurationError, match="client 'web' has a secret that differs"):
        load_settings(clients=clients, client_secrets=secrets)


def test_a_worker_with_a_bad_registry_does_not_start(tmp_path: Path) -> None:
    """The real `courier worker` process: exits 2, naming the file and the entry."""
    path = _write(tmp_path, "clients.json", {"web": {"user_pool_id": "us-east-1"}})
    env = {**os.environ, "COURIER_CLIENTS": str(path)}
    done = subprocess.run(
        [sys.executable, "-m", "worker.cli", "worker", "-c", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "COURIER_CLIENTS" in done.stderr
    assert "client 'web'" in done.stderr


def test_pool_region_is_the_prefix_of_the_pool_id() -> None:
    assert pool_region("us-gov-west-1_AbC") == "us-gov-west-1"
    assert pool_region("cn-northwest-1_AbC") == "cn-northwest-1"
    with pytest.raises(ValueError, match="not a user pool id"):
        pool_region("us-east-1_" + "a" * 60)


# --- the default Region: COURIER_COGNITO_REGION, AWS_REGION, botocore's lookup, us-east-1


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Region anywhere; an empty AWS config file of the test's own."""
    for name in ("COURIER_COGNITO_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    config.write_text("[default]\n[profile eu]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    return config


def test_default_region_order(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_region(load_settings()) == "us-east-1"
    monkeypatch.setenv("AWS_PROFILE", "eu")
    assert default_region(load_settings()) == "eu-north-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the case
    assert default_region(load_settings()) == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert default_region(load_settings()) == "eu-west-3"
    monkeypatch.setenv("COURIER_COGNITO_REGION", "sa-east-1")
    assert default_region(load_settings()) == "sa-east-1"


def test_a_mistyped_profile_is_a_configuration_error_on_workers(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prodd")
    with pytest.raises(ConfigurationError, match="prodd"):
        default_region(load_settings())


def test_registry_lookup_needs_no_aws_configuration() -> None:
    registry = ClientRegistry({"a": ClientInfo("a", POOL_EU)}, default_region=None)
    assert registry.region_for("a") == "eu-west-1"
    assert registry.region_for("b") is None
