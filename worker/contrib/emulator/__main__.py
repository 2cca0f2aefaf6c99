"""``python -m worker.contrib.emulator [flags]`` runs the emulator like ``courier emulator``."""

import typer

from worker.contrib.emulator.cli import emulator

typer.run(emulator)
