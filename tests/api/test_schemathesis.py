"""schemathesis against a live front: every operation, generated cases, every check.

The front is a real uvicorn server (the project's protocol) on the test's Redis, with a
real Celery worker delivering to the emulator, so queued jobs run while the fuzzer
works. schemathesis runs as its own CLI process (``st run``) with all its checks (no
5xx, status codes, content types, headers and bodies conforming to the document,
negative data rejected, positive data accepted, unsupported methods answered 405 with
``Allow``, ...), on a fixed seed so a failure can be replayed. The figures (cases,
checks, failures) are printed and kept in ``.pytest_cache/schemathesis-figures.json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.front import LIVE_TOKEN, LiveFront

EXAMPLES_PER_OPERATION = 30
SEED = 20261130
FIGURES = Path(
    os.environ.get("COURIER_SCHEMATHESIS_FIGURES", ".pytest_cache/schemathesis-figures.json")
)


def _run(front: LiveFront, report: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{front.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--header",
        f"Authorization: Bearer {LIVE_TOKEN}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        # schemathesis 4.32.5 translates \p{M} (Username's and AttributeName's pattern,
        # from botocore's model) to [\u0300-\u036F\u0483-\u0489\u1DC0-\u1DFF\u20D0-\u20FF]
        # (schemathesis/core/jsonschema/patterns.py, _MARK_CLASS): U+20F1-U+20FF are
        # unassigned, not marks, and the front rightly refuses them, which schemathesis
        # then reports as "schema-valid request rejected". ASCII strings avoid the false
        # positive; non-ASCII input is covered by tests/api/test_hostile.py and
        # test_unicode_usernames_are_accepted. test_schemathesis_mark_class_overreaches
        # fails once schemathesis is fixed: then drop this option.
        "--generation-codec",
        "ascii",
    ]
    started = time.monotonic()
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        check=False,
    )
    return completed, time.monotonic() - started


def _figures(report: Path) -> dict[str, Any]:
    """What the run did, from its JSON report, and the checks that ``--checks all`` ran."""
    import schemathesis.specs.openapi.checks  # noqa: F401 - registers the OpenAPI checks
    from schemathesis.checks import CHECKS

    document = json.loads(report.read_text(encoding="utf-8"))
    cases = document["test_cases"]
    return {
        "cases": cases["generated"],
        "cases_with_failures": cases["with_failures"],
        "unique_failures": cases["unique_failures"],
        "errors": len(document["errors"]),
        "checks_on_each_case": CHECKS.get_all_names(),
        "operations_tested": document["operations"]["tested"],
        "phases": {name: phase["status"] for name, phase in document["phases"].items()},
        "seconds": round(document["running_time"], 1),
        "warnings": {k: v for k, v in document["warnings"].items() if v},
    }


@pytest.mark.timeout(420)  # the run itself is ~1-2 min; a loaded machine may double it
def test_schemathesis_finds_nothing(
    live_front: LiveFront, celery_worker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Campaigns from a pool list it (ListUsers, an IAM operation): the emulator takes any
    # credentials. Without them the front refuses such campaigns (400), rightly.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    report = tmp_path / "report.json"
    completed, _ = _run(live_front, report)
    output = completed.stdout + completed.stderr
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.with_name("schemathesis-output.txt").write_text(output, encoding="utf-8")
    FIGURES.with_name("schemathesis-report.json").write_bytes(report.read_bytes())
    figures = _figures(report)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(f"\nschemathesis: {json.dumps(figures)}")
    assert completed.returncode == 0, output[-20000:]
    assert figures["cases_with_failures"] == 0, output[-20000:]
    assert figures["errors"] == 0, output[-20000:]
    assert figures["operations_tested"] == 20, figures  # every operation in the document
    assert set(figures["phases"].values()) <= {"success", "skip"}, figures
    assert figures["cases"] >= 300, figures  # a few hundred cases, or the run is too thin
    assert httpx.get(f"{live_front.url}/healthz").status_code == 200  # still standing


def test_schemathesis_mark_class_overreaches() -> None:
    """The reason for ``--generation-codec ascii`` above; fails once it is gone."""
    from schemathesis.core.jsonschema.patterns import normalize_regex

    translated = normalize_regex(r"^[\p{L}\p{M}\p{S}\p{N}\p{P}]+$")
    assert translated is not None
    assert re.fullmatch(translated, "\u20f1")  # unassigned (Cn), yet generated as a mark
