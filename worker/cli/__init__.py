"""The ``courier`` command line. Every command takes ``--json`` for one JSON document."""

from __future__ import annotations

import json
import sys

import typer
from typer._click.exceptions import ClickException  # typer 0.28 carries its own click

from worker.cli import jobs, run
from worker.cli.api import api
from worker.cli.campaign import campaign_app
from worker.cli.emulator import emulator
from worker.cli.flower import flower
from worker.cli.limit import limit_app
from worker.cli.output import EXIT_BROKER_UNAVAILABLE, report
from worker.errors import BrokerUnavailable, ConfigurationError

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
    """Entry point of the ``courier`` console script.

    Commands report their own errors; this is the net under them. Redis unreachable
    anywhere (even on a path no command wrapped) ends with one BrokerUnavailable line and
    exit status 3; a configuration error, or a command line that does not parse (a missing
    or unknown option, a value of the wrong type), with exit status 2. No traceback either
    way; ``--json`` anywhere on the command line puts the error on stdout as one document.
    """
    from worker.broker.door import CONNECTION_ERRORS  # noqa: PLC0415 - imports kombu

    as_json = "--json" in sys.argv[1:]
    try:
        _configure_logging()
        # Not standalone: click's usage errors come here instead of being printed as a
        # panel, so that --json gets its document. Every command ends with typer.Exit
        # (whose code comes back as the result) or returns nothing (status 0).
        result = app(standalone_mode=False)
    except typer.Abort:
        report("aborted", as_json=as_json)
        raise SystemExit(1) from None
    except ClickException as exc:
        if as_json:
            error = {"type": "UsageError", "message": exc.format_message()}
            sys.stdout.write(json.dumps({"error": error}) + "\n")
        else:
            exc.show()
        raise SystemExit(exc.exit_code) from None
    except BrokerUnavailable as exc:
        report(exc, as_json=as_json)
        raise SystemExit(EXIT_BROKER_UNAVAILABLE) from None
    except CONNECTION_ERRORS as exc:
        report(_unavailable(exc), as_json=as_json)
        raise SystemExit(EXIT_BROKER_UNAVAILABLE) from None
    except ConfigurationError as exc:
        report(exc, as_json=as_json)
        raise SystemExit(2) from None
    raise SystemExit(result if isinstance(result, int) and not isinstance(result, bool) else 0)


def _unavailable(exc: Exception) -> BrokerUnavailable:
    from worker.broker.door import unavailable  # noqa: PLC0415
    from worker.settings import load_settings  # noqa: PLC0415

    try:
        url = load_settings().redis_url
    except ConfigurationError:
        url = "COURIER_REDIS_URL"
    return unavailable(url, exc)


def _configure_logging() -> None:
    """Log lines in COURIER_LOG_FORMAT from the start (`courier worker` sets it again)."""
    from worker.observe.logs import configure_logging  # noqa: PLC0415
    from worker.settings import load_settings  # noqa: PLC0415

    try:
        log_format = load_settings().log_format
    except ConfigurationError:
        log_format = "text"  # the command itself reports the configuration error
    configure_logging(log_format, "WARNING")
