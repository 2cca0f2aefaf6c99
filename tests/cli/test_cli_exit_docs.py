"""The exit statuses the docs name are the ones the code uses.

docs/ratelimit.md once said exit 1 for an unreachable Redis (it is 3); README's table is
the one every command follows. Each row's status is compared with the constants the CLI
exits with, and the behaviour behind each row is tested on real processes elsewhere
(tests/cli/test_cli_intent.py, tests/ratelimit/test_limit_cli.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from worker.cli.interrupt import EXIT_INTERRUPTED
from worker.cli.output import EXIT_BROKER_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[2]


def _table(path: Path, header: str) -> dict[int, str]:
    """Rows ``| N | when |`` of the table whose first header cell is ``header``."""
    rows: dict[int, str] = {}
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {header} |"):
            inside = True
            continue
        if inside and not line.startswith("|"):
            break
        found = re.match(r"\| (\d+) \| (.*) \|$", line)
        if inside and found:
            rows[int(found.group(1))] = found.group(2)
    return rows


def test_readme_names_every_exit_status_the_cli_uses() -> None:
    rows = _table(ROOT / "README.md", "exit status")
    assert sorted(rows) == [0, 1, 2, 3, EXIT_INTERRUPTED]
    assert "Redis cannot be reached" in rows[EXIT_BROKER_UNAVAILABLE]
    assert "unknown job or campaign id" in rows[2]
    assert "SIGINT" in rows[EXIT_INTERRUPTED]


def test_ratelimit_doc_says_3_for_an_unreachable_redis() -> None:
    rows = _table(ROOT / "docs" / "ratelimit.md", "exit code")
    assert "cannot be reached" in rows[EXIT_BROKER_UNAVAILABLE]
    assert "BrokerUnavailable" in rows[EXIT_BROKER_UNAVAILABLE]
    assert all("BrokerUnavailable" not in text for code, text in rows.items() if code != 3)
