"""``python -m worker.contrib.emulator [flags]`` runs the emulator like ``courier emulator``."""

import typer

from worker.cli.emulator import emulator

typer.run(emulator)
