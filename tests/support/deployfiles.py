"""Where the deploy files are, and how a deploy test meets a missing tool."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


DEPLOY = ROOT / "deploy"


K8S = DEPLOY / "k8s"


K8S_KEDA = DEPLOY / "k8s-keda"


def missing_tool(reason: str) -> None:
    """Skip on a developer's machine without the tool; fail under CI, which installs it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run should have installed it")
    pytest.skip(reason)
