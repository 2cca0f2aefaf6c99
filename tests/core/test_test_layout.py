"""The tests' own layout: folders by idea, shared helpers in tests/support/, nothing borrowed.

A test module or a conftest imports helpers from ``tests.support`` (or the package), never
from a conftest or another test module, and never relatively: pytest imports a conftest
itself, and a second import of it (or of a test module) runs its module code again under
another name. Only conftest.py lives at the top of tests/.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _borrowed(path: Path) -> list[str]:
    """The imports in ``path`` that reach into a conftest, a test module or a sibling."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
            if node.level:
                found.append(f"{path.relative_to(TESTS)}:{node.lineno} relative import")
                continue
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] != "tests" or parts[1:2] == ["support"]:
                continue
            found.append(f"{path.relative_to(TESTS)}:{node.lineno} imports {module}")
    return found


def test_tests_import_shared_helpers_only_from_tests_support() -> None:
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 50  # the walk found the suite
    borrowed = [line for path in modules for line in _borrowed(path)]
    assert borrowed == [], "import these from tests/support/ instead:\n" + "\n".join(borrowed)


def test_only_conftest_lives_at_the_top_of_tests() -> None:
    top = sorted(p.name for p in TESTS.glob("*.py"))
    assert top == ["conftest.py"]


def test_helper_modules_live_in_tests_support() -> None:
    """Outside tests/support/ a folder holds test modules, its conftest and __init__ only."""
    strays = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if "support" not in path.relative_to(TESTS).parts[:1]
        and path.name not in ("conftest.py", "__init__.py")
        and not path.name.startswith("test_")
    ]
    assert strays == []
