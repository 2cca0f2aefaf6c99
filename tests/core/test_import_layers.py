"""Layering: the Celery app and everything it imports never import the tasks back.

``tasks`` imports ``worker.app`` (to declare its tasks); if anything reachable from
``worker.app`` imported ``tasks`` again, even inside a function, the two would form a
circle (as once: tasks.campaigns -> worker.app -> worker.campaign.pump ->
tasks.campaigns). The graph test follows every import statement, function-level ones
included; the subprocess test imports the app with ``tasks`` made unimportable.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "tasks")


def _module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, path: Path) -> set[str]:
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in PACKAGES}


def reachable_from(start: str) -> dict[str, str]:
    """Every project module ``start`` may import (at load time or later) -> who imports it."""
    seen: dict[str, str] = {start: ""}
    todo = [start]
    while todo:
        name = todo.pop()
        path = _module_path(name)
        if path is None:
            continue
        for target in sorted(_imports(name, path)):
            # "from a.b import c": c is a module only when a file says so
            candidates = [target] if _module_path(target) else []
            parents = target.split(".")
            for i in range(1, len(parents)):
                parent = ".".join(parents[:i])
                if _module_path(parent) and parent not in seen:
                    candidates.append(parent)
            for module in candidates:
                if module not in seen:
                    seen[module] = name
                    todo.append(module)
    return seen


def _chain(seen: dict[str, str], module: str) -> str:
    chain = [module]
    while seen[chain[-1]]:
        chain.append(seen[chain[-1]])
    return " <- ".join(chain)


def test_nothing_reachable_from_the_app_imports_the_tasks() -> None:
    seen = reachable_from("worker.app")
    offending = [m for m in seen if m == "tasks" or m.startswith("tasks.")]
    assert "worker.campaign.pump" in seen  # the graph is really followed
    assert not offending, "; ".join(_chain(seen, m) for m in offending)


def test_the_graph_finds_a_function_level_import(tmp_path: Path) -> None:
    source = "def f() -> None:\n    from tasks.campaigns import DISPATCHER\n"
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert "tasks.campaigns" in _imports("worker.m", path)


def test_the_app_imports_with_the_tasks_package_blocked() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tasks' or name.startswith('tasks.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import worker.app\n"
        "import worker.campaign.pump\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
