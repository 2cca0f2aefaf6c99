"""``python -m worker.contrib.emulator [flags]`` runs the emulator like ``courier emulator``."""

import typer

from worker.cli.emulator import emulator

app = typer.Typer(add_completion=False, rich_markup_mode=None)  # plain help, as `courier`'s
app.command()(emulator)
app()
