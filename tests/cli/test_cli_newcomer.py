"""What a newcomer meets first, through the real ``courier`` entry point at 80 columns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.support.backends import REDIS_URL
from tests.support.processes import courier
from worker.cli import app


def _env(**extra: str) -> dict[str, str]:
    """A newcomer's terminal: 80 columns, the test Redis."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "TERM": "xterm",
        "COLUMNS": "80",
        "COURIER_REDIS_URL": REDIS_URL,
        **extra,
    }


def _group(path: tuple[str, ...]) -> Any:
    group: Any = typer.main.get_command(app)  # typer's vendored click: no isinstance
    for name in path:
        group = group.commands[name]
    return group


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _words(text: str) -> str:
    return " ".join(text.split())


def _squeezed(text: str) -> str:
    """``text`` without any white space (help wraps lines, and may break at a hyphen)."""
    return "".join(text.split())


@pytest.mark.parametrize(
    "path", [(), ("limit",), ("campaign",)], ids=["courier", "limit", "campaign"]
)
def test_command_lists_show_each_whole_summary(path: tuple[str, ...]) -> None:
    result = courier(*path, "--help", env=_env())
    assert result.returncode == 0, result.stderr
    listing = _squeezed(result.stdout.split("Commands:", 1)[1])
    for name, command in _group(path).commands.items():
        first_paragraph = _squeezed((command.help or "").split("\n\n", 1)[0])
        assert name + first_paragraph in listing, (name, result.stdout)
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout


def test_a_summary_with_periods_inside_is_not_cut() -> None:
    result = courier("--help", env=_env())
    assert result.returncode == 0, result.stderr
    assert (
        "api Serve the HTTP front (/?Action=..., /jobs, /campaigns, /ui/, /openapi.json, "
        "/healthz)." in _words(result.stdout)
    )


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("api", "unless --without-token-operations (or --dev) is given"),
        ("flower", "Refuses to start without COURIER_FLOWER_BASIC_AUTH unless --dev is given."),
    ],
)
def test_help_shows_no_rst_markup(command: str, says: str) -> None:
    result = courier(command, "--help", env=_env())
    assert result.returncode == 0, result.stderr
    assert "``" not in result.stdout
    assert _squeezed(says) in _squeezed(result.stdout)


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "courier" for p in COMMANDS])
def test_no_help_text_holds_rst_backticks(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "``" not in result.output
