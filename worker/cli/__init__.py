"""The ``courier`` command line. Every command takes ``--json`` for one JSON document."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if sys.argv[:1] == ["-m"]:  # `python -m worker.cli`: hide a literal --secret-hash first,
    from worker.proctitle import scrub_argv  # before typer, Celery and the rest import

    scrub_argv()

import typer
from typer._click.exceptions import ClickException  # typer 0.28 carries its own click

from worker.cli import jobs, run
from worker.cli.api import api
from worker.cli.campaign import campaign_app
from worker.cli.emulator import emulator
from worker.cli.flower import flower
from worker.cli.helptext import SummaryGroup
from worker.cli.interrupt import EXIT_INTERRUPTED
from worker.cli.limit import limit_app
from worker.cli.output import EXIT_BROKER_UNAVAILABLE, USAGE_ERROR, report
from worker.errors import BrokerUnavailable, ConfigurationError

if TYPE_CHECKING:
    from worker.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="courier",
    help="Deliver Amazon Cognito confirmation and attribute-verification codes asynchronously.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help strings are plain text (worker.cli.helptext)
    cls=SummaryGroup,
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
    or unknown option, a value of the wrong type), with exit status 2; SIGINT with 130
    (commands that started something say what became of it first). No traceback either
    way; ``--json`` anywhere on the command line puts the error on stdout as one document.
    """
    from worker.broker.door import CONNECTION_ERRORS  # noqa: PLC0415 - imports kombu

    as_json = "--json" in sys.argv[1:]
    try:
        settings = _read_settings()
        _configure_logging(settings)
        # Not standalone: click's usage errors come here instead of being printed as a
        # panel, so that --json gets its document. Every command ends with typer.Exit
        # (whose code comes back as the result) or returns nothing (status 0). The
        # settings read above go down as the context's obj (worker.cli.context).
        result = app(standalone_mode=False, obj=settings)
    except typer.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C before anything started
            report("interrupted", as_json=as_json)
            raise SystemExit(EXIT_INTERRUPTED) from None
        report("aborted", as_json=as_json)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        report("interrupted", as_json=as_json)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except ClickException as exc:
        if as_json:
            report(exc.format_message(), as_json=True, kind=USAGE_ERROR)
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


def _read_settings() -> Settings | None:
    """The process's settings, read from the environment once for the whole command line;
    None when they are malformed (the command that needs them reports it: exit 2)."""
    from worker.process import process_settings  # noqa: PLC0415

    try:
        return process_settings()
    except ConfigurationError:
        return None


def _unavailable(exc: Exception) -> BrokerUnavailable:
    from worker.broker.door import unavailable  # noqa: PLC0415

    settings = _read_settings()
    return unavailable(settings.redis_url if settings else "COURIER_REDIS_URL", exc)


def _configure_logging(settings: Settings | None) -> None:
    """Log lines in COURIER_LOG_FORMAT from the start (`courier worker` sets it again)."""
    from worker.observe.logs import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_format if settings else "text", "WARNING")
