"""What the emulator saw: per-second call counts, totals, error codes, and every delivery.

Per-second counts are keyed by epoch second (as a string in JSON) and kept for the last
hour. ``accepted`` counts calls that passed the quota (whatever they answered then);
``throttled`` counts calls the quota refused.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

__all__ = ["Recorder"]

_WINDOW_SECONDS = 3600
_MAX_DELIVERIES = 500_000


class Recorder:
    """Counters and the delivery log of one emulator run (used from the server loop only)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded."""
        self._accepted: dict[int, dict[str, int]] = {}
        self._throttled: dict[int, dict[str, int]] = {}
        self._calls: dict[str, int] = {}
        self._accepted_totals: dict[str, int] = {}
        self._throttled_totals: dict[str, int] = {}
        self._succeeded: dict[str, int] = {}
        self._simulated: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._errors_by_operation: dict[str, dict[str, int]] = {}
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=_MAX_DELIVERIES)

    @staticmethod
    def _bump_second(table: dict[int, dict[str, int]], operation: str) -> None:
        second = int(time.time())
        row = table.get(second)
        if row is None:
            row = table[second] = {}
            if len(table) > _WINDOW_SECONDS:
                del table[next(iter(table))]
        row[operation] = row.get(operation, 0) + 1

    def call(self, operation: str) -> None:
        """A call of ``operation`` arrived (well-formed enough to name its operation)."""
        self._calls[operation] = self._calls.get(operation, 0) + 1

    def accepted(self, operation: str) -> None:
        """A call passed the quota."""
        self._bump_second(self._accepted, operation)
        self._accepted_totals[operation] = self._accepted_totals.get(operation, 0) + 1

    def throttled(self, operation: str) -> None:
        """A call was refused by the quota."""
        self._bump_second(self._throttled, operation)
        self._throttled_totals[operation] = self._throttled_totals.get(operation, 0) + 1

    def succeeded(self, operation: str) -> None:
        """A call answered 200."""
        self._succeeded[operation] = self._succeeded.get(operation, 0) + 1

    def simulated(self, operation: str) -> None:
        """A call answered a simulated success (PreventUserExistenceErrors; nothing sent)."""
        self._simulated[operation] = self._simulated.get(operation, 0) + 1

    def error(self, operation: str, code: str) -> None:
        """A call answered the error ``code`` (a status string for bare answers)."""
        self._errors[code] = self._errors.get(code, 0) + 1
        per_op = self._errors_by_operation.setdefault(operation, {})
        per_op[code] = per_op.get(code, 0) + 1

    def delivery(self, record: dict[str, Any]) -> None:
        """A code was "sent"."""
        self.deliveries.append(record)

    def snapshot(self) -> dict[str, Any]:
        """The JSON document served at ``GET /_emulator/stats``."""
        return {
            "now": time.time(),
            "per_second": {str(s): dict(row) for s, row in self._accepted.items()},
            "throttled_per_second": {
                str(s): sum(row.values()) for s, row in self._throttled.items()
            },
            "throttled_per_second_by_operation": {
                str(s): dict(row) for s, row in self._throttled.items()
            },
            "totals": dict(sorted(self._calls.items())),
            "operations": {
                op: {
                    "calls": n,
                    "accepted": self._accepted_totals.get(op, 0),
                    "succeeded": self._succeeded.get(op, 0),
                    "simulated": self._simulated.get(op, 0),
                    "throttled": self._throttled_totals.get(op, 0),
                    "errors": dict(self._errors_by_operation.get(op, {})),
                }
                for op, n in sorted(self._calls.items())
            },
            "errors": dict(sorted(self._errors.items())),
            "deliveries": len(self.deliveries),
        }
