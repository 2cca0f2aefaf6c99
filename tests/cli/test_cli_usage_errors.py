"""The ``courier`` entry point as a shell runs it: usage and configuration errors.

A command line that does not parse, or a setting that is not valid, ends with exit
status 2 and, under ``--json``, one error document on stdout (DESIGN.md's CLI contract);
the exit status a command chooses (typer.Exit) comes through unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def courier(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m worker.cli ARGS`` with the test environment plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["resend", "--client-id", "abc", "--json"], "Missing option '--username'"),
        (["limit", "set", "abc", "--json"], "'abc' is not a valid float"),
        (["status", "--bogus", "--json"], "No such option: --bogus"),
        (["verify-attribute", "--attribute-name", "email", "--json"], "access-token"),
    ],
)
def test_a_command_line_that_does_not_parse_is_one_json_error(args: list[str], needle: str) -> None:
    result = courier(*args)
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert document["error"]["type"] in ("UsageError", "InvalidRequestError")
    assert needle in document["error"]["message"]
    assert "Traceback" not in result.stderr


def test_without_json_a_usage_error_goes_to_stderr() -> None:
    result = courier("resend", "--client-id", "abc")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Missing option '--username'" in result.stderr


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "abc"])
def test_a_budget_that_is_no_number_is_a_configuration_error(value: str) -> None:
    result = courier("limit", "show", "--json", COURIER_RATE_LIMIT=value)
    assert result.returncode == 2, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "ConfigurationError"
    assert "COURIER_RATE_LIMIT" in error["message"]
    assert "Traceback" not in result.stderr


def test_a_command_s_own_exit_status_comes_through() -> None:
    assert courier("seal-key").returncode == 0
    # --wait that ends without success (failed, or not terminal within the timeout): 1
    waited = courier(
        "resend", "--client-id", "nosuchclient0000000000001", "--username", "nobody",
        "--wait", "--timeout-seconds", "0.2", "--json",
    )  # fmt: skip
    assert waited.returncode == 1, waited.stdout + waited.stderr
    document = json.loads(waited.stdout)
    assert document.get("state") == "failed" or "error" in document
    missing = courier("status", "no-such-job", "--json")  # an unknown id is bad input: 2
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert json.loads(missing.stdout)["error"]["type"] == "JobNotFoundError"
