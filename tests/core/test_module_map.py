"""docs/architecture.md's module map names every module of ``worker/`` and ``tasks/``.

The map is a table: a bold ``**`pkg/`**`` row opens a package, the rows after it name its
modules in backticks (a ```sub/``` row names a subpackage's). A module added without a
line in the map fails here, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_PACKAGE_ROW = re.compile(r"\*\*`([\w/]+/)`\*\*(?: \(core\))?")
_SUBPACKAGE_CELL = re.compile(r"`(\w+/)`")
_MODULE_NAME = re.compile(r"`([\w]+\.py)`")


def _map_rows(text: str) -> list[list[str]]:
    start = text.index("| module | idea |")
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def listed_modules(text: str) -> set[str]:
    """Every ``pkg/name.py`` the map names, each under the package whose rows name it."""
    listed: set[str] = set()
    package = ""
    for cells in _map_rows(text):
        opened = _PACKAGE_ROW.fullmatch(cells[0])
        if opened is not None:
            package, base, named = opened.group(1), opened.group(1), cells[1:]
        else:
            sub = _SUBPACKAGE_CELL.fullmatch(cells[0])
            base = package + sub.group(1) if sub is not None else package
            named = cells
        for name in _MODULE_NAME.findall(" ".join(named)):
            listed.add(base + name)
    return listed


def shipped_modules() -> list[str]:
    """Every module of the package, ``__init__.py`` left out but ``tasks/``' (its API)."""
    found = [
        path.relative_to(ROOT).as_posix()
        for top in ("worker", "tasks")
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    ]
    return sorted(
        name for name in found if not name.endswith("/__init__.py") or name == "tasks/__init__.py"
    )


def test_the_module_map_names_every_module() -> None:
    listed = listed_modules((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    modules = shipped_modules()
    assert len(modules) > 100  # the walk found the tree
    missing = [name for name in modules if name not in listed]
    assert not missing, f"docs/architecture.md's module map does not name: {missing}"


def test_a_module_left_out_of_the_map_is_named() -> None:
    table = (
        "| module | idea |\n|---|---|\n"
        "| **`worker/`** (core) | |\n| `app.py` | the app |\n"
        "| **`worker/contrib/`** | tools |\n| `emulator/` | `core.py`, `server.py` |\n"
    )
    listed = listed_modules(table)
    assert listed == {
        "worker/app.py",
        "worker/contrib/emulator/core.py",
        "worker/contrib/emulator/server.py",
    }
    assert "worker/contrib/core.py" not in listed  # a subpackage's names stay in it
