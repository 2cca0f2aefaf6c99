"""``--help`` reads cleanly: flags show no value placeholder.

typer 0.29.0-0.29.2 render every boolean flag as ``--wait <bool>`` (pyproject.toml caps
typer below 0.29 for it); this test fails if such a version comes back.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from worker.cli import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    # typer >= 0.28 builds on its own vendored click (typer._click): no isinstance checks.
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))
assert len(COMMANDS) > 15, COMMANDS  # every command and sub-command, not just the root


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "courier" for p in COMMANDS])
def test_help_shows_no_placeholder_for_flags(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output, result.output
    assert "--help" in result.output


def test_resend_help_as_a_user_sees_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "resend", "--help"],
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin", "TERM": "xterm"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    wait = next(line for line in result.stdout.splitlines() if "--wait" in line)
    assert re.search(r"--wait\s+Wait until the job is terminal", wait), wait
    username = next(line for line in result.stdout.splitlines() if "--username" in line)
    assert "<str>" in username or "TEXT" in username  # options that take a value keep theirs
