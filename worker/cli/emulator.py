"""``courier emulator``: the local Cognito emulator (dev, tests, demo, benchmarks).

Registered in :mod:`worker.cli` with ``app.command()(emulator)``. The command body
imports the emulator's server only when it runs.
"""

from __future__ import annotations

from worker.contrib.emulator.cli import emulator

__all__ = ["emulator"]
