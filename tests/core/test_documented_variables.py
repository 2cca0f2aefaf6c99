"""The environment the docs and ``--help`` name is the one the code reads, defaults included.

A default changed in worker/settings.py and not in the docs is what an operator trusts
and gets wrong (docs/deploy.md's grace-period sum kept a 10-s read timeout after the
default became 20 s). Here:

* every ``COURIER_*`` name in README.md, docs/*.md and every command's ``--help`` is a
  setting (worker/settings.py), ``COURIER_SECRET_HASH`` (worker/cli/secrets.py), a family
  written ``COURIER_LOG_*``, or a variable of the test suite that the tests do read;
* each row of README's "Configuration" table names settings only, and its default is the
  setting's: each literal in backticks, in order, or "none"/"off" for a setting without
  one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from pydantic.fields import FieldInfo
from typer.testing import CliRunner

from tests.support.deployfiles import ROOT
from worker.cli import app
from worker.cli.secrets import SECRET_HASH_ENV
from worker.settings import Settings

NAME = re.compile(r"\bCOURIER_[A-Z0-9_]*[A-Z0-9](_\*)?")
FIELDS: dict[str, FieldInfo] = {f"COURIER_{n.upper()}": f for n, f in Settings.model_fields.items()}
SUITE_VARIABLES = {"COURIER_TEST_REDIS_URL", "COURIER_RESILIENCE_FIGURES"}
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _help_texts() -> Iterator[tuple[str, str]]:
    for path in _commands(typer.main.get_command(app)):
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        yield "courier " + " ".join(path) + " --help", result.output


def _is_known(name: str) -> bool:
    if name.endswith("_*"):
        return any(field.startswith(name[:-1]) for field in FIELDS)
    return name in FIELDS or name == SECRET_HASH_ENV or name in SUITE_VARIABLES


def test_the_suite_variables_are_read_by_the_suite() -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))
    for name in SUITE_VARIABLES:
        assert re.search(rf"environ(\.get)?\W+{name}", tests), f"{name}: no test reads it"


@pytest.mark.parametrize("where", [*DOCS, "help"], ids=lambda w: getattr(w, "name", w))
def test_every_variable_named_is_one_the_code_reads(where: Any) -> None:
    if where == "help":
        texts = list(_help_texts())
    else:
        texts = [(str(where.relative_to(ROOT)), where.read_text(encoding="utf-8"))]
    unknown = {
        (place, match.group(0))
        for place, text in texts
        for match in NAME.finditer(text)
        if not _is_known(match.group(0))
    }
    assert not unknown, sorted(unknown)


def _configuration_rows() -> list[tuple[list[str], str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`COURIER_"):
            rows.append((re.findall(r"`(COURIER_[A-Z0-9_]+)`", cells[0]), cells[2]))
    return rows


def _same(documented: str, default: Any) -> bool:
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, int | float):
        return math.isclose(float(documented), float(default))
    return bool(documented == str(default))


def _has_no_default(field: FieldInfo) -> bool:
    default = field.get_default(call_default_factory=True)
    return default is None or default in ((), [], {})


ROWS = _configuration_rows()


def test_the_configuration_table_is_there() -> None:
    assert len(ROWS) > 25, ROWS  # the table parsed, not an empty section


@pytest.mark.parametrize(("names", "cell"), ROWS, ids=[", ".join(n) for n, _ in ROWS])
def test_each_configuration_row_gives_the_settings_default(names: list[str], cell: str) -> None:
    assert names, cell
    assert all(name in FIELDS for name in names), names
    if re.fullmatch(r"`[^`]+`(, `[^`]+`)*", cell):
        literals = re.findall(r"`([^`]+)`", cell)
        assert len(literals) == len(names), (names, cell)
        for name, literal in zip(names, literals, strict=True):
            default = FIELDS[name].get_default(call_default_factory=True)
            assert _same(literal, default), f"{name}: README says {literal}, the code {default!r}"
    elif cell.startswith(("none", "off")):
        for name in names:
            assert _has_no_default(FIELDS[name]), (name, FIELDS[name].default)
    else:  # a default described in words: the setting has none of its own to compare
        for name in names:
            assert _has_no_default(FIELDS[name]), (name, cell)
