"""``courier emulator``: the local Cognito emulator (dev, tests, demo, benchmarks).

Registered in :mod:`worker.cli` with ``app.command()(emulator)``; ``python -m
worker.contrib.emulator`` runs the same command. Only its options live here: the emulator
(:mod:`worker.contrib`, which production never imports) is imported when the command runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["emulator"]


def _rate(value: float) -> float | None:
    return None if value <= 0 else value


def emulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 9229,
    seed_file: Annotated[
        Path | None, typer.Option(help="JSON seed file with pools, clients and users.")
    ] = None,
    users: Annotated[
        int, typer.Option(help="Synthetic users in pool <region>_Synthetic1 (0: none).")
    ] = 0,
    region: Annotated[str, typer.Option(help="Region the pools and tokens claim.")] = "us-east-1",
    rate_user_resource_read: Annotated[
        float, typer.Option(help="UserResourceRead quota, requests/s (0: unlimited).")
    ] = 50.0,
    rate_user_list: Annotated[
        float, typer.Option(help="UserList (ListUsers) quota, requests/s (0: unlimited).")
    ] = 30.0,
    burst: Annotated[
        float | None, typer.Option(help="Token-bucket capacity (default: the rate).")
    ] = None,
    per_user_hourly_cap: Annotated[
        int, typer.Option(help="Codes per user, operation and rolling hour (0: no cap).")
    ] = 5,
    daily_email_limit: Annotated[
        int,
        typer.Option(
            help="E-mails a day from COGNITO_DEFAULT pools, per Region (Cognito: 50; 0: no limit)."
        ),
    ] = 0,
    token_lifetime_seconds: Annotated[
        float, typer.Option(help="Lifetime of issued access tokens, seconds.")
    ] = 3600.0,
    latency_ms: Annotated[float, typer.Option(help="Fixed added latency, ms.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(help="Jitter width (uniform) or mean, ms.")] = 0.0,
    jitter: Annotated[str, typer.Option(help="Jitter distribution: uniform|exponential.")] = (
        "uniform"
    ),
    fault_internal_error: Annotated[
        float, typer.Option(help="Share of calls answering InternalErrorException.")
    ] = 0.0,
    fault_5xx: Annotated[
        float, typer.Option(help="Share of calls answering a bare HTML 5xx.")
    ] = 0.0,
    fault_drop: Annotated[
        float, typer.Option(help="Share of calls whose connection is dropped.")
    ] = 0.0,
    fault_slow: Annotated[float, typer.Option(help="Share of calls answered slowly.")] = 0.0,
    slow_ms: Annotated[float, typer.Option(help="Delay of a slow answer, ms.")] = 2000.0,
    seed: Annotated[int, typer.Option(help="Seed of faults, latency, codes and ids.")] = 0,
    script: Annotated[
        list[str] | None,
        typer.Option(
            help="OPERATION=ENTRY: the next call(s) of OPERATION answer ENTRY, e.g. "
            "ResendConfirmationCode=@daily-email-limit*50 or "
            "'ResendConfirmationCode=LimitExceededException:message' (repeatable).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document at start-up.")
    ] = False,
    print_codes: Annotated[
        bool,
        typer.Option(
            "--print-codes",
            help="Print each delivered code to stdout: 'code NNNNNN for USER in POOL (...)'.",
        ),
    ] = False,
) -> None:
    """Run the local Cognito emulator until SIGINT/SIGTERM."""
    scripts: list[tuple[str, str]] = []
    for text in script or []:
        operation, equals, entry = text.partition("=")
        if not equals or not operation or not entry:
            raise typer.BadParameter(f"{text!r} is not OPERATION=ENTRY", param_hint="--script")
        scripts.append((operation.strip(), entry))
    # the development tool, only now that it runs (see the module docstring)
    from worker.contrib.emulator.config import (  # noqa: PLC0415
        EmulatorConfig,
        FaultConfig,
        LatencyConfig,
    )
    from worker.contrib.emulator.runner import serve_forever  # noqa: PLC0415 - imports aiohttp
    from worker.contrib.emulator.seeding import SeedError  # noqa: PLC0415

    try:
        config = EmulatorConfig(
            region=region,
            user_resource_read_per_second=_rate(rate_user_resource_read),
            user_list_per_second=_rate(rate_user_list),
            burst=burst,
            latency=LatencyConfig(
                fixed_ms=latency_ms,
                jitter_ms=jitter_ms,
                distribution=jitter,  # type: ignore[arg-type]  # checked by LatencyConfig
            ),
            faults=FaultConfig(
                internal_error=fault_internal_error,
                bare_5xx=fault_5xx,
                drop=fault_drop,
                slow=fault_slow,
                slow_ms=slow_ms,
            ),
            seed=seed,
            synthetic_users=users,
            seed_file=seed_file,
            access_token_lifetime_seconds=token_lifetime_seconds,
            per_user_hourly_cap=per_user_hourly_cap,
            daily_email_limit=daily_email_limit,
            scripts=tuple(scripts),
            print_codes=print_codes,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    def ready(url: str, description: dict[str, Any]) -> None:
        if json_output:
            document = {"endpoint_url": url, **description}
            sys.stdout.write(json.dumps(document) + "\n")
        else:
            pools = ", ".join(
                f"{p['id']} (clients: "
                + ", ".join(
                    c["id"] + (f" secret {c['secret']}" if c["secret"] else "")
                    for c in p["clients"]
                )
                + ")"
                for p in description["pools"]
            )
            line = f"cognito emulator listening on {url}"
            sys.stdout.write(line + (f"; pools: {pools}" if pools else "") + "\n")
        sys.stdout.flush()

    try:
        serve_forever(config, host=host, port=port, on_ready=ready)
    except SeedError as exc:
        raise typer.BadParameter(str(exc), param_hint="--seed-file") from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--script / --seed-file") from None
    except OSError as exc:
        sys.stderr.write(f"cannot listen on {host}:{port}: {exc}\n")
        raise typer.Exit(1) from None
