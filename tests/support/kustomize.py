"""Rendering the Kubernetes manifests as ``kubectl apply -k`` would."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml


def kustomize(folder: Path) -> list[dict[str, Any]] | None:
    """``kubectl kustomize folder``'s documents (what ``kubectl apply -k`` would send).

    None when kubectl is not installed; an assertion error when it fails.
    """
    if shutil.which("kubectl") is None:
        return None
    result = subprocess.run(
        ["kubectl", "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
