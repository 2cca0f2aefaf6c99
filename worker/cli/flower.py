"""``courier flower``: Flower on the project's Celery app, with the project's configuration."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

__all__ = ["flower"]

log = logging.getLogger("worker.observe.flower")


def flower(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 5555,
    address: Annotated[
        str, typer.Option("--address", help="Address to listen on (0.0.0.0 in a container).")
    ] = "127.0.0.1",
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Local look without COURIER_FLOWER_BASIC_AUTH: no auth, 127.0.0.1 only.",
        ),
    ] = False,
    db: Annotated[
        str, typer.Option("--db", help="File where Flower keeps its state across restarts.")
    ] = "flower.db",
    history_hours: Annotated[
        float,
        typer.Option(
            "--history-hours",
            min=0.01,
            help="Hours of task history kept, at the budget (about 3 KB of memory a task).",
        ),
    ] = 24.0,
    save_interval_seconds: Annotated[
        float,
        typer.Option(
            "--save-interval-seconds",
            min=0,
            help="Also save the state this often (0: only when Flower stops).",
        ),
    ] = 0.0,
) -> None:
    """Run Flower: basic auth (COURIER_FLOWER_BASIC_AUTH) on every page, API and /metrics,
    read-only (control and task-writing routes removed), persistent, a day of history.

    Refuses to start without COURIER_FLOWER_BASIC_AUTH unless --dev is given.
    """
    from worker.cli.context import command_settings  # noqa: PLC0415
    from worker.cli.run import run_celery  # noqa: PLC0415
    from worker.observe.flower import flower_argv, flower_options, harden_flower  # noqa: PLC0415
    from worker.observe.logs import configure_logging  # noqa: PLC0415

    settings = command_settings()
    options = flower_options(
        settings,
        dev=dev,
        history_hours=history_hours,
        db=db,
        save_interval_seconds=save_interval_seconds,
    )
    configure_logging(settings.log_format, logging.INFO)
    if "basic_auth" not in options:
        if address not in ("127.0.0.1", "localhost", "::1"):
            raise typer.BadParameter(
                "--dev serves without auth: only on 127.0.0.1", param_hint="--address"
            )
        # Flower's API refuses unauthenticated clients unless told this is meant.
        os.environ["FLOWER_UNAUTHENTICATED_API"] = "true"
        log.warning("dev run: Flower answers without authentication on %s:%d", address, port)
    log.info(
        "Flower keeps %d tasks (%g h at %g calls/s, about %.1f GB)",
        options["max_tasks"],
        history_hours,
        settings.rate_limit,
        options["max_tasks"] * 3e3 / 1e9,
    )
    harden_flower()
    from worker.app import app  # noqa: PLC0415 - configured from the settings read above

    # In-process: the options (basic auth included) never appear in the process arguments.
    argv = ["flower", f"--port={port}", f"--address={address}", *flower_argv(options)]
    raise typer.Exit(run_celery(app, argv))
