"""Figures a scenario measured, printed at the end of the session with their targets.

Figures recorded with :func:`record` are printed at the end of the session (the
``pytest_terminal_summary`` hook in tests/resilience/conftest.py) and written as JSON to
``$COURIER_RESILIENCE_FIGURES`` when that is set.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure of a scenario, with the issue's target when there is one."""

    scenario: str
    name: str
    value: float | int | str
    target: str = ""
    met: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "name": self.name,
            "value": self.value,
            "target": self.target,
            "met": self.met,
        }


@dataclass
class _Figures:
    rows: list[Figure] = field(default_factory=list)

    def table(self) -> list[str]:
        """The figures as aligned text lines, grouped by scenario in recording order."""
        lines: list[str] = []
        scenario = None
        for row in self.rows:
            if row.scenario != scenario:
                scenario = row.scenario
                lines.append(f"{scenario}")
            value = f"{row.value:.1f}" if isinstance(row.value, float) else str(row.value)
            verdict = {True: "met", False: "MISSED", None: ""}[row.met]
            target = f"target {row.target}" if row.target else ""
            lines.append(f"  {row.name:<52} {value:>8}  {target:<28} {verdict}".rstrip())
        return lines


FIGURES = _Figures()
"""The figures of this session (one process: pytest runs the scenarios in turn)."""


def record(
    scenario: str,
    name: str,
    value: float | int | str,
    *,
    target: str = "",
    met: bool | None = None,
) -> None:
    """Keep one figure for the end-of-session table (``met`` None: no target)."""
    FIGURES.rows.append(Figure(scenario, name, value, target, met))


def recovery_seconds(
    times: Iterable[float],
    *,
    fault_at: float,
    full_rate: float,
    window_seconds: float = 2.0,
    fraction: float = 0.8,
) -> float | None:
    """Seconds from ``fault_at`` until calls run at ``fraction`` of ``full_rate`` again.

    ``times`` are the epoch seconds at which calls arrived (the emulator's delivery log).
    The rate is counted over a sliding ``window_seconds``; the answer is the end of the
    first window after the fault that reaches the rate, minus ``fault_at``. None when the
    rate never comes back within the recorded calls.
    """
    after = sorted(t for t in times if t >= fault_at)
    needed = max(1, int(full_rate * fraction * window_seconds))
    for index in range(len(after) - needed + 1):
        if after[index + needed - 1] - after[index] <= window_seconds:
            return max(0.0, after[index + needed - 1] - fault_at)
    return None


def longest_gap(times: Iterable[float], *, start: float, end: float) -> float:
    """The longest stretch in [start, end] with no call (``times``: epoch seconds)."""
    points = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(points))
