"""The README's "Operate" section stays true: every command in it exists as written.

Each line of its ``sh`` blocks is checked by what it is:

* ``courier ...``: the command exists and its ``--help`` lists every flag the line uses;
  ``VAR=value`` prefixes are settings the code reads (or Flower's, for ``courier flower``);
* ``kubectl apply -k DIR``: ``kubectl kustomize DIR`` renders it (the same build
  ``apply -k`` does; when kubectl is installed, else the folder's kustomization parses);
* ``docker compose ...``: the services it names exist in docker-compose.yml (``docker
  compose config`` itself runs in tests/deploy/test_deploy_files.py);

and every test the section names as running its commands exists. A line of any other
kind fails the test: add a check for it here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tests.support.kustomize import kustomize
from worker.cli import app
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Operate\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", _section(), re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


LINES = _lines()


def test_the_section_has_commands() -> None:
    assert len(LINES) >= 6, LINES


def test_the_tests_it_names_exist() -> None:
    named = set(re.findall(r"`(tests/[\w/.]+)`", _section()))
    assert named
    for path in named:
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("line", LINES)
def test_each_command_exists_as_written(line: str) -> None:
    words = shlex.split(line)
    assignments = []
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        assignments.append(words.pop(0).split("=", 1)[0])
    known = {f"COURIER_{name.upper()}" for name in Settings.model_fields}
    assert set(assignments) <= known, set(assignments) - known
    if words[0] == "courier":
        _check_courier(words[1:])
    elif words[:3] == ["kubectl", "apply", "-k"]:
        _check_kustomize(ROOT / words[3])
    elif words[:2] == ["docker", "compose"]:
        _check_compose(words[2:])
    else:
        pytest.fail(f"no check for {line!r}: add one to this test")


def _check_courier(args: list[str]) -> None:
    group: Any = typer.main.get_command(app)  # typer's vendored click: no isinstance
    path: list[str] = []
    for word in args:
        if word in getattr(group, "commands", {}):
            group = group.commands[word]
            path.append(word)
        else:
            break
    assert path, f"courier {args[0]}: no such command"
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for flag in (word.split("=", 1)[0] for word in args if word.startswith("--")):
        assert re.search(rf"{re.escape(flag)}\b", result.output), f"courier {path}: {flag}"


def _check_kustomize(folder: Path) -> None:
    assert (folder / "kustomization.yaml").is_file(), folder
    if kustomize(folder) is None:  # no kubectl here: the kustomization parses at least
        yaml.safe_load((folder / "kustomization.yaml").read_text())


def _check_compose(args: list[str]) -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert args[0] in {"up", "config", "down", "logs", "ps"}, args
    for i, word in enumerate(args):
        if word == "--scale":
            service = args[i + 1].split("=", 1)[0]
            assert service in services, service
