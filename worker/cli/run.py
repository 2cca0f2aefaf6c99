"""``courier worker`` and ``courier seal-key``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from worker.cli.context import command_settings
from worker.cli.output import emit

__all__ = ["register", "run_celery"]


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Queues to consume, in priority order.")
    ] = "interactive,bulk",
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1, help="Threads; default sized from the budget."),
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
    hostname: Annotated[str | None, typer.Option("--hostname", "-n")] = None,
) -> None:
    """Run a worker with the project's defaults (threads pool, events on, both queues)."""
    from worker.app import app  # noqa: PLC0415 - the app and its tasks only for this command

    argv = ["worker", "--queues", queues, "--loglevel", loglevel, "--task-events"]
    if command_settings().log_format == "json":
        argv.insert(0, "--quiet")  # no text banner: every line on the streams is JSON
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if hostname is not None:
        argv += ["--hostname", hostname]
    raise typer.Exit(run_celery(app, argv))


def run_celery(app: Any, argv: list[str]) -> int:
    """Run ``celery ARGV`` for ``app``; returns its exit status.

    ``app.worker_main`` and ``app.start`` (Celery 5.x) drop the status that click returns
    with ``standalone_mode=False``, so a worker that cannot start (a taken metrics port,
    an unrecoverable error) would exit 0 and defeat ``restart: on-failure`` (related:
    celery/celery#7358). This is ``app.start`` keeping it; tests/observe/test_metrics.py
    fails if a worker that cannot start exits 0 again.
    """
    from celery.bin.celery import celery  # noqa: PLC0415

    celery.params[0].default = app
    try:
        code = celery.main(args=argv, standalone_mode=False)
    finally:
        celery.params[0].default = None
    return code if isinstance(code, int) else 0


def seal_key(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Print a fresh key for COURIER_SEAL_KEY (give the same one to producers and workers)."""
    from worker.sealing import generate_key  # noqa: PLC0415

    key = generate_key()
    if as_json:
        emit({"seal_key": key}, as_json=True)
    else:
        typer.echo(key)


def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Run the emulator, a worker, real jobs and a campaign; print their outcomes.

    Needs no Redis: starts a private redis-server (removed on exit) unless
    COURIER_REDIS_URL is set, then uses that one.
    """
    from worker.contrib.demo import run_demo  # noqa: PLC0415 - the development tool, only now

    raise typer.Exit(run_demo(command_settings(), as_json=as_json))


def register(app: typer.Typer) -> None:
    """Add the run commands to ``app``."""
    app.command()(worker)
    app.command("seal-key")(seal_key)
    app.command()(demo)
