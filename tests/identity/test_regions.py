"""Where calls go: a boto3 client per Region, sized from the worker's threads; producers
never touch AWS configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tasks import job_status, submit_resend, wait
from tests.support.runtime import client_regions
from worker.cognito import CognitoGateway
from worker.ratelimit import Category
from worker.runtime import Runtime
from worker.settings import Settings


def test_one_client_per_region_sized_from_the_threads(settings: Settings) -> None:
    gateway = CognitoGateway.from_settings(settings, threads=32)
    assert client_regions(gateway) == []  # nothing made until a call needs it
    eu = gateway.client_for("eu-west-1")
    assert gateway.client_for("eu-west-1") is eu
    us = gateway.client_for("us-east-1")
    assert eu.meta.region_name == "eu-west-1"
    assert us.meta.region_name == "us-east-1"
    assert vars(eu.meta.config)["max_pool_connections"] == 36  # 32 threads + the process's own
    assert client_regions(gateway) == ["eu-west-1", "us-east-1"]


def test_a_call_goes_to_its_pools_region(
    make_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"eu": {"user_pool_id": "eu-west-1_AbC"}}))
    monkeypatch.delenv("AWS_REGION", raising=False)
    regions = CognitoGateway.from_settings(
        make_settings(clients=path, cognito_region="ap-south-1")
    ).regions
    assert regions.for_client("eu") == "eu-west-1"
    assert regions.for_client("not-listed") == "ap-south-1"
    assert regions.default == "ap-south-1"


def test_a_producer_with_a_mistyped_aws_profile_still_submits(
    redis_url: str, tmp_path: Path, runtime: Runtime
) -> None:
    """`courier resend` builds no boto3 client and reads no profile: a bad AWS_PROFILE is
    no concern of a producer's (the issue's ProfileNotFound traceback)."""
    config = tmp_path / "aws-config"
    config.write_text("[profile prod]\nregion = eu-west-1\n")
    env = {
        **os.environ,
        "COURIER_REDIS_URL": redis_url,
        "AWS_PROFILE": "prodd",
        "AWS_CONFIG_FILE": str(config),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker.cli",
            "resend",
            "--client-id",
            "abc",
            "--username",
            "alice",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    assert document["state"] in ("queued", "running", "succeeded", "failed")
    assert "ProfileNotFound" not in done.stderr
    assert job_status(document["id"])["id"] == document["id"]


@pytest.mark.usefixtures("celery_worker")
def test_a_mistyped_profile_fails_the_job_on_the_worker_with_a_clear_message(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A client with no known pool needs the default Region, which reads the profile."""
    for name in ("COURIER_COGNITO_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "prodd")
    document = wait(submit_resend("unlistedclient", "alice"), timeout_seconds=30)
    assert document["state"] == "failed"
    assert "prodd" in document["error"]["message"]


def test_a_producers_estimate_reads_no_aws_profile(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`campaign start --dry-run` estimates from the client's Region's limiter."""
    for name in ("COURIER_COGNITO_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "prodd")
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"eu": {"user_pool_id": "eu-west-1_AbC"}}))
    runtime = Runtime.from_settings(make_settings(clients=path))
    assert runtime.limiter_for_client("eu").state(Category.USER_RESOURCE_READ).region == (
        "eu-west-1"
    )
    every = runtime.limiter_for_client("unlisted").state(Category.USER_RESOURCE_READ)
    assert (every.region, every.budget_per_second) == (None, runtime.settings.rate_limit)
