"""The ``courier`` command line. Every command takes ``--json`` for one JSON document."""

from __future__ import annotations

import typer

from worker.cli import jobs, run
from worker.cli.api import api
from worker.cli.campaign import campaign_app
from worker.cli.emulator import emulator
from worker.cli.flower import flower
from worker.cli.limit import limit_app
from worker.cli.output import err_console
from worker.errors import ConfigurationError

__all__ = ["app", "main"]

app = typer.Typer(
    name="courier",
    help="Deliver Amazon Cognito confirmation and attribute-verification codes asynchronously.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
jobs.register(app)
run.register(app)
app.add_typer(limit_app, name="limit")
app.add_typer(campaign_app, name="campaign")
app.command()(emulator)
app.command()(api)
app.command()(flower)


def main() -> None:
    """Entry point of the ``courier`` console script."""
    try:
        _configure_logging()
        app()
    except ConfigurationError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None


def _configure_logging() -> None:
    """Log lines in COURIER_LOG_FORMAT from the start (`courier worker` sets it again)."""
    from worker.logs import configure_logging  # noqa: PLC0415
    from worker.settings import load_settings  # noqa: PLC0415

    try:
        log_format = load_settings().log_format
    except ConfigurationError:
        log_format = "text"  # the command itself reports the configuration error
    configure_logging(log_format, "WARNING")
