"""Layering of the whole package: no import cycles, the tasks above the app, contrib apart.

The graph has one node per module of ``worker/`` and ``tasks/`` (every file) and an edge
for every import statement naming another of them: at module level, inside a function
(it runs later, but it still ties the two modules together) and under ``if
TYPE_CHECKING:`` (mypy reads it: a type-only circle is still a knot a reader has to
untie). ``from a.b import c`` names the module ``a.b.c`` when there is such a file, else
``a.b``. The parent packages Python loads first are not edges of their own: a package's
``__init__`` re-exporting its submodules is not a circle, while a submodule importing its
own package's ``__init__`` by name is (it is an explicit edge).

The rules:

1. No cycle anywhere in that graph (as once ``emulator/state.py`` <-> ``synthetic.py`` at
   load time, and seven emulator modules around ``emulator/core.py`` through their type
   annotations).
2. Nothing reachable from ``worker.app`` imports ``tasks``: ``tasks`` imports the app to
   declare its tasks (as once: tasks.campaigns -> worker.app -> worker.campaign.pump ->
   tasks.campaigns).
3. ``worker.contrib`` (the emulator, the demo, the private redis-server: development tools)
   is imported by nothing outside ``worker/contrib/`` except inside a function of
   ``worker/cli/``: the bodies of the ``courier emulator`` and ``courier demo`` commands,
   which load it only when they run. No module-level import, no type-only one, and no
   other production module at all; a subprocess proves it by importing the app, the
   tasks, the CLI and the HTTP front with ``worker.contrib`` made unimportable.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "tasks")
CONTRIB = "worker.contrib"
CONTRIB_MAY_BE_LOADED_BY = "worker.cli"  # inside a command's function body only


@dataclass(frozen=True)
class Import:
    """One project module named by an import statement of another."""

    target: str
    line: int
    in_function: bool
    type_only: bool


def _module_path(name: str, root: Path = ROOT) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def all_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the packages (one per ``.py`` file) -> its file."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(
    nodes: Iterable[ast.AST], *, in_function: bool = False, type_only: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement in ``nodes`` and below, with where it sits."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function, type_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, in_function=in_function, type_only=True)
            yield from _statements(node.orelse, in_function=in_function, type_only=type_only)
        else:
            inside = in_function or isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            yield from _statements(
                ast.iter_child_nodes(node), in_function=inside, type_only=type_only
            )


def imports_of(name: str, path: Path, root: Path = ROOT) -> list[Import]:
    """The project modules that the import statements of module ``name`` name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node, in_function, type_only in _statements([tree]):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                targets.append(submodule if _module_path(submodule, root) else module)
        found += [
            Import(target, node.lineno, in_function, type_only)
            for target in dict.fromkeys(targets)
            if target.split(".")[0] in PACKAGES and _module_path(target, root)
        ]
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports (any import statement, see the docstring)."""
    return {
        name: {i.target for i in imports_of(name, path, root)} - {name}
        for name, path in all_modules(root).items()
    }


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(sorted(graph.get(start, ())))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif following in on_path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def reachable_from(start: str) -> dict[str, str]:
    """Every project module ``start`` may import (at load time or later) -> who imports it,
    the packages Python loads on the way included."""
    graph = import_graph()
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        name = todo.pop()
        for target in sorted(graph.get(name, ())):
            parts = target.split(".")
            lineage = [".".join(parts[:i]) for i in range(1, len(parts))] + [target]
            for module in lineage:
                if module in graph and module not in seen:
                    seen[module] = name
                    todo.append(module)
    return seen


def _chain(seen: dict[str, str], module: str) -> str:
    chain = [module]
    while seen[chain[-1]]:
        chain.append(seen[chain[-1]])
    return " <- ".join(chain)


def test_the_graph_holds_every_module_and_its_imports() -> None:
    graph = import_graph()
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    assert len(graph) == len(files)
    # a load-time edge, a function-level one and a type-only one are all followed
    assert "worker.contrib.emulator.admin" in graph["worker.contrib.emulator.core"]
    assert "worker.contrib.emulator.runner" in graph["worker.cli.emulator"]
    assert "worker.runtime" in graph["worker.campaign.sender"]


def test_no_import_cycle_anywhere() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_function_level_and_type_only_imports_are_edges(tmp_path: Path) -> None:
    package = tmp_path / "worker"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from worker.high import High\n",
        encoding="utf-8",
    )
    (package / "high.py").write_text(
        "def f() -> None:\n    from worker import low\n", encoding="utf-8"
    )
    found = imports_of("worker.low", package / "low.py", tmp_path)
    assert found == [Import("worker.high", 3, in_function=False, type_only=True)]
    found = imports_of("worker.high", package / "high.py", tmp_path)
    assert found == [Import("worker.low", 2, in_function=True, type_only=False)]
    assert find_cycle(import_graph(tmp_path)) == ["worker.high", "worker.low", "worker.high"]


def test_nothing_reachable_from_the_app_imports_the_tasks() -> None:
    seen = reachable_from("worker.app")
    offending = [m for m in seen if m == "tasks" or m.startswith("tasks.")]
    assert "worker.campaign.pump" in seen  # the graph is really followed
    assert not offending, "; ".join(_chain(seen, m) for m in offending)


def test_nothing_outside_contrib_imports_it_but_a_command_body() -> None:
    offending: list[str] = []
    allowed: list[str] = []
    for name, path in all_modules().items():
        if name == CONTRIB or name.startswith(CONTRIB + "."):
            continue
        for found in imports_of(name, path):
            if not (found.target == CONTRIB or found.target.startswith(CONTRIB + ".")):
                continue
            where = f"{path.relative_to(ROOT)}:{found.line} imports {found.target}"
            in_cli = name.startswith(CONTRIB_MAY_BE_LOADED_BY + ".")
            if in_cli and found.in_function and not found.type_only:
                allowed.append(where)
            else:
                offending.append(where)
    assert not offending, "; ".join(offending)
    assert allowed  # the emulator and demo commands do load it: the check really looks


def test_the_production_face_imports_with_tasks_or_contrib_blocked() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def __init__(self, prefix):\n"
        "        self.prefix = prefix\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == self.prefix or name.startswith(self.prefix + '.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "blocker = Block(sys.argv[1])\n"
        "sys.meta_path.insert(0, blocker)\n"
        "for name in sys.argv[2:]:\n"
        "    __import__(name)\n"
        "try:\n"
        "    __import__(sys.argv[1])\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    cases = {
        "tasks": ["worker.app", "worker.campaign.pump"],
        CONTRIB: ["worker.app", "tasks", "worker.cli", "worker.api.app", "worker.runtime"],
    }
    for blocked, imported in cases.items():
        done = subprocess.run(
            [sys.executable, "-c", code, blocked, *imported],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"with {blocked} blocked: {done.stderr}"
        assert done.stdout.strip() == "ok"
