"""The settings of one ``courier`` command line: read once by the entry point, handed down.

:func:`worker.cli.main` reads the environment once (:func:`worker.process.process_settings`,
which also makes them the process's settings) and hands the result to click as the root
context's ``obj``; every command takes them from there with :func:`command_settings`.
"""

from __future__ import annotations

from typer._click.globals import get_current_context  # typer 0.28 carries its own click

from worker.settings import Settings, load_settings

__all__ = ["command_settings"]


def command_settings() -> Settings:
    """The settings of the running command: those the entry point read.

    Read now only when there are none: the entry point's read failed (this one raises
    its error, for the command to report), or a test invokes a command group directly.

    Raises:
        ConfigurationError: a variable is malformed (the CLI exits 2).
    """
    context = get_current_context(silent=True)
    given = context.find_root().obj if context is not None else None
    return given if isinstance(given, Settings) else load_settings()
