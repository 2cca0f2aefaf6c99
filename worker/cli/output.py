"""Shared CLI output: one JSON document with ``--json``, a readable rich view otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from worker.errors import BrokerUnavailable, CourierError

__all__ = [
    "EXIT_BROKER_UNAVAILABLE",
    "USAGE_ERROR",
    "console",
    "emit",
    "exit_status",
    "fail",
    "report",
]

EXIT_BROKER_UNAVAILABLE = 3
"""Exit status of every command when Redis cannot be reached (DESIGN.md)."""

console = Console()
err_console = Console(stderr=True)


def emit(document: dict[str, Any], *, as_json: bool, title: str | None = None) -> None:
    """Print ``document``: exactly one JSON document on stdout, or a two-column table."""
    if as_json:
        sys.stdout.write(json.dumps(document, sort_keys=False) + "\n")
        return
    table = Table(title=title, show_header=False)
    for key, value in document.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
        table.add_row(key, shown)
    console.print(table)


USAGE_ERROR = "UsageError"
"""The ``type`` of a command line that asks for something it cannot mean (exit 2)."""


def exit_status(exc: CourierError | str, code: int) -> int:
    """``code``, except 3 for :class:`BrokerUnavailable` whatever the command asked."""
    return EXIT_BROKER_UNAVAILABLE if isinstance(exc, BrokerUnavailable) else code


def report(exc: CourierError | str, *, as_json: bool, kind: str | None = None) -> None:
    """Print an error: ``{"error": {"type", "message"}}`` on stdout with ``--json``, else stderr.

    ``type`` is ``kind`` when given, else the error's class name (``Error`` for a string).
    """
    message = str(exc)
    if kind is None:
        kind = type(exc).__name__ if isinstance(exc, CourierError) else "Error"
    if as_json:
        sys.stdout.write(json.dumps({"error": {"type": kind, "message": message}}) + "\n")
    else:
        err_console.print(f"[bold red]error:[/] {message}", highlight=False)


def fail(
    exc: CourierError | str, *, as_json: bool, code: int = 2, kind: str | None = None
) -> NoReturn:
    """Report an error (``kind`` as in :func:`report`) and exit with ``code`` (3 for
    BrokerUnavailable, always)."""
    report(exc, as_json=as_json, kind=kind)
    raise typer.Exit(exit_status(exc, code))
