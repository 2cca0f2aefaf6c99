"""``python -m worker.emulator [flags]`` runs the emulator like ``courier emulator``."""

import typer

from worker.emulator.cli import emulator

typer.run(emulator)
