"""``courier campaign ...``: start, follow, steer and report bulk resend campaigns.

Every command takes ``--json`` and then prints exactly one JSON document on stdout. The
lead registers this group with ``app.add_typer(campaign_app, name="campaign")``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, cast

import typer
from rich.table import Table

from worker.campaign.formats import FileFormat
from worker.campaign.ingest import new_campaign_id
from worker.campaign.model import DEFAULT_CHUNK_SIZE
from worker.campaign.sources import DEFAULT_POOL_FILTER
from worker.cli.helptext import SummaryGroup
from worker.cli.interrupt import EXIT_INTERRUPTED, interruptible, shielded
from worker.cli.output import USAGE_ERROR, console, emit, err_console, fail
from worker.cli.watch import follow
from worker.errors import (
    CampaignLostError,
    CampaignNotFoundError,
    CourierError,
    NothingToSendError,
)
from worker.ratelimit.shares import WEIGHT_RANGE

__all__ = ["campaign_app"]

campaign_app = typer.Typer(
    name="campaign",
    help="Bulk resend campaigns: a fresh confirmation code to every listed user.",
    no_args_is_help=True,
    rich_markup_mode=None,  # help strings are plain text (worker.cli.helptext)
    cls=SummaryGroup,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
IdArgument = Annotated[str, typer.Argument(help="The campaign id.")]


@campaign_app.command()
def start(
    client_id: Annotated[str, typer.Option("--client-id", help="The app client id.")],
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            help="CSV (username, Username or cognito:username column; , ; or tab), "
            "list-users JSON, JSON Lines or text; UTF-8 or UTF-16 with a BOM; - is stdin.",
        ),
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="csv, json or text (default: by extension, then content)."),
    ] = None,
    user_pool_id: Annotated[
        str | None,
        typer.Option("--user-pool-id", help="List this pool (needs IAM); with --file: preflight."),
    ] = None,
    filter_expression: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="ListUsers filter for --user-pool-id (not with --file; default "
            "'cognito:user_status = \"UNCONFIRMED\"').",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A name to recognise it by.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count, validate and estimate; send nothing.")
    ] = False,
    on_user_cap: Annotated[
        str, typer.Option("--on-user-cap", help="defer (wait for the user's hour) or skip.")
    ] = "defer",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Rows per stored chunk (1-100000).")
    ] = DEFAULT_CHUNK_SIZE,
    window: Annotated[
        int | None,
        typer.Option("--window", help="Chunks in flight at once (default: worker threads)."),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            "--lease-seconds",
            help="Seconds without a heartbeat after which a chunk's holder is presumed dead "
            "and the chunk is handed on (default: COURIER_LEASE_SECONDS, 15).",
        ),
    ] = None,
    weight: Annotated[
        float,
        typer.Option(
            "--weight",
            help="Its part of the bulk share beside the other running campaigns, which "
            f"split it in proportion to their weights ({WEIGHT_RANGE}; default 1: equal).",
        ),
    ] = 1.0,
    case_sensitive: Annotated[
        bool | None,
        typer.Option(
            "--case-sensitive/--case-insensitive",
            help="Whether the pool's usernames are case-sensitive (default: DescribeUserPool "
            "with --user-pool-id, else case-insensitive: rows differing only in case merge).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a campaign (or, with --dry-run, only check its input).

    Exit status 2 when the input holds no usable user: nothing is created, and the
    document (with --json) holds the error beside the rejects. SIGINT (Ctrl-C) or SIGTERM
    while it starts cancels the campaign being created (nothing more is sent), prints its
    id and state, and exits 130.
    """
    from tasks.campaigns import start_campaign  # noqa: PLC0415 - connects the Celery app

    if on_user_cap not in ("defer", "skip"):
        fail("--on-user-cap must be defer or skip", as_json=as_json, kind=USAGE_ERROR)
    if file is None and user_pool_id is None:
        fail("give --file or --user-pool-id", as_json=as_json, kind=USAGE_ERROR)
    if file is not None and filter_expression is not None:
        fail(
            "--filter selects users of --user-pool-id; with --file the file says who "
            "(give one or the other)",
            as_json=as_json,
            kind=USAGE_ERROR,
        )
    if file_format not in (None, "csv", "json", "jsonl", "text"):
        fail("--format must be csv, json or text", as_json=as_json, kind=USAGE_ERROR)
    campaign_id = None if dry_run else new_campaign_id()
    try:
        with interruptible():
            document = start_campaign(
                client_id,
                campaign_id=campaign_id,
                file=file,
                user_pool_id=user_pool_id,
                filter_expression=filter_expression or DEFAULT_POOL_FILTER,
                name=name,
                dry_run=dry_run,
                on_user_cap="skip" if on_user_cap == "skip" else "defer",
                chunk_size=chunk_size,
                window=window,
                lease_seconds=lease_seconds,
                case_sensitive=case_sensitive,
                weight=weight,
                file_format=cast("FileFormat | None", file_format),
            )
    except KeyboardInterrupt:
        with shielded():
            _cancel_interrupted(campaign_id, as_json=as_json)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except NothingToSendError as exc:
        error = {"type": type(exc).__name__, "message": str(exc)}
        if as_json:
            emit({"error": error, **exc.document}, as_json=True)
        else:
            _print_start(exc.document)
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except CourierError as exc:
        fail(exc, as_json=as_json)
    if as_json:
        emit(document, as_json=True)
        return
    _print_start(document)


def _cancel_interrupted(campaign_id: str | None, *, as_json: bool) -> None:
    """Cancel the campaign an interrupted start was creating; print its id and state."""
    from tasks.campaigns import cancel_campaign  # noqa: PLC0415

    document: dict[str, Any] = {"id": None, "state": None}
    note = "nothing was created"
    if campaign_id is not None:
        try:
            document = cancel_campaign(campaign_id)
            note = f"campaign {campaign_id} cancelled: nothing more is sent"
        except CampaignNotFoundError:
            note = "interrupted before the campaign was created: nothing was created"
        except CourierError as exc:
            document = {"id": campaign_id, "state": None, "error": str(exc)}
            note = f"campaign {campaign_id} may be sending: cancel it with courier campaign cancel"
    emit({**document, "interrupted": True}, as_json=as_json, title="interrupted")
    if not as_json:
        err_console.print(f"interrupted: {note}", highlight=False)


def _print_start(document: dict[str, Any]) -> None:
    shown = {k: v for k, v in document.items() if k not in ("rejects", "warnings")}
    dry_run = bool(document.get("dry_run"))
    if dry_run:  # the document's state is "done" (the contract's enum); nothing was created
        shown["state"] = "not created (dry run)"
    if document:
        emit(shown, as_json=False, title="dry run" if dry_run else "campaign")
    if dry_run:
        console.print(
            "dry run: nothing was stored and nothing was sent (no campaign was created); "
            "run the same command without --dry-run to start it.",
            highlight=False,
        )
    for warning in document.get("warnings", []):
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    rejects = document.get("rejects", [])
    if rejects:
        table = Table(title=f"rejected rows ({document['rejected']})")
        table.add_column("line", justify="right")
        table.add_column("reason")
        for reject in rejects[:20]:
            table.add_row(str(reject["line"]), reject["reason"])
        if len(rejects) > 20:
            table.add_row("...", f"{document['rejected'] - 20} more (see --json)")
        console.print(table)


@campaign_app.command()
def status(
    campaign_id: IdArgument,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Follow it until it ends: a live progress bar on a terminal, else a line "
            "every 5 s; waits out a Redis outage of up to COURIER_REDIS_WAIT_MAX_SECONDS.",
        ),
    ] = False,
    interval_seconds: Annotated[
        float, typer.Option("--interval-seconds", min=0.1, help="Refresh period of --watch.")
    ] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Print the campaign status document (with --watch: follow it to the end, or until
    the campaign pauses itself for an account answer such as the daily e-mail limit; its
    pause_reason says why, and `courier campaign resume` continues). An unknown id exits 2;
    a campaign whose keys Redis lost is printed with state "lost" and its lost_reason,
    exit status 1."""
    from tasks.campaigns import campaign_status  # noqa: PLC0415
    from worker.runtime import get_runtime  # noqa: PLC0415

    try:
        if watch:
            document = follow(
                campaign_id,
                campaign_status,
                interval_seconds=interval_seconds,
                as_json=as_json,
                wait_max_seconds=get_runtime().settings.redis_wait_max_seconds,
                console=console,
                err_console=err_console,
            )
        else:
            document = campaign_status(campaign_id)
    except CampaignLostError as exc:  # Redis lost its keys: the lost document, exit 1
        emit(exc.document, as_json=as_json, title=f"campaign {campaign_id}")
        raise typer.Exit(1) from None
    except CourierError as exc:
        fail(exc, as_json=as_json)
    emit(document, as_json=as_json, title=f"campaign {campaign_id}")
    why = document.get("pause_reason")
    if why and not as_json:
        err_console.print(
            f"[bold yellow]paused by itself at {why['at']}:[/] {why['code']}: {why['message']}"
            f"\nfix it (e.g. configure Amazon SES), then: courier campaign resume {campaign_id}",
            highlight=False,
        )


@campaign_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the campaigns still stored, newest first."""
    from tasks.campaigns import list_campaigns  # noqa: PLC0415

    documents = list_campaigns()
    if as_json:
        emit({"campaigns": documents}, as_json=True)
        return
    # 80 columns hold it: ids and states are never cut (the other columns narrow and wrap
    # first); no outer border; created_at to the minute, wrapping between date and time.
    table = Table(title="campaigns", show_edge=False, pad_edge=False)
    width = max((len(doc["id"]) for doc in documents), default=2)
    table.add_column("id", no_wrap=True, min_width=width, overflow="ignore")
    table.add_column("name", overflow="fold")
    table.add_column("state", no_wrap=True)
    for column in ("progress", "rate", "created"):
        table.add_column(column, overflow="fold")
    for doc in documents:
        counts = doc["counts"]
        table.add_row(
            doc["id"],
            doc["name"],
            doc["state"],
            f"{counts['succeeded']} succeeded, {counts['failed']} failed, of {doc['total']}",
            f"{doc['rate']:.1f}/s",
            str(doc["created_at"]).replace("T", " ")[:16],
        )
    console.print(table)


def _control(action: str, campaign_id: str, as_json: bool) -> None:
    from tasks import campaigns  # noqa: PLC0415

    operation = getattr(campaigns, f"{action}_campaign")
    try:
        document = operation(campaign_id)
    except CourierError as exc:
        fail(exc, as_json=as_json, code=_code(exc))
    emit(document, as_json=as_json, title=f"campaign {campaign_id}")


def _code(exc: CourierError) -> int:
    """Exit status 1 for a campaign Redis lost (it existed: not a bad input), else 2."""
    return 1 if isinstance(exc, CampaignLostError) else 2


@campaign_app.command()
def pause(campaign_id: IdArgument, as_json: JsonOption = False) -> None:
    """Stop sending new rows; rows in flight finish. Exit 2 unless it is running or ingesting."""
    _control("pause", campaign_id, as_json)


@campaign_app.command()
def resume(campaign_id: IdArgument, as_json: JsonOption = False) -> None:
    """Send again after a pause. Exit 2 unless it is paused."""
    _control("resume", campaign_id, as_json)


@campaign_app.command()
def cancel(campaign_id: IdArgument, as_json: JsonOption = False) -> None:
    """Cancel: rows not sent yet become cancelled. Exit 2 once it is done or cancelled."""
    _control("cancel", campaign_id, as_json)


@campaign_app.command()
def report(
    campaign_id: IdArgument,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            help="Where to write the CSV report (whole or not at all: an existing file is "
            "replaced only once the report is complete); - writes it to stdout.",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Write one CSV line per user (state, error code and message, medium, destination,
    attempts, redeliveries, time, ambiguous: calls that got no answer), then one per
    rejected input row (state rejected, line, reason).

    Spreadsheet-safe: a cell starting with = + - @ tab CR or ' has a ' put in front; drop
    one leading ' to get the exact value. With --out - the CSV is stdout, and the summary
    (with --json, its document) goes to stderr.
    """
    from tasks.campaigns import write_campaign_report  # noqa: PLC0415

    to_stdout = out == "-"
    try:
        rows = write_campaign_report(campaign_id, sys.stdout if to_stdout else out)
    except CourierError as exc:
        fail(exc, as_json=as_json, code=_code(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}", as_json=as_json)
    summary = {"id": campaign_id, "path": out, "rows": rows}
    if to_stdout:
        sys.stdout.flush()
        err_console.print(
            json.dumps(summary) if as_json else f"report: {rows} rows", highlight=False
        )
        return
    emit(summary, as_json=as_json, title="report")
