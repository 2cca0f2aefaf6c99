"""``courier limit``: see and steer the global rate limiter at run time.

``show`` prints each category's budget, current adaptive rate, floor, bulk share and rate,
and throttle history; ``set RATE`` overrides a category's budget for every worker from its
next permit; ``reset`` returns to the configured budget and forgets the adaptive state.
With ``--json`` each command prints exactly one JSON document on stdout:
``{"limits": [<state>, ...]}``, or ``{"error": {"code", "message"}}`` when it fails.
Exit codes: 0 done, 1 Redis unreachable, 2 bad input or configuration.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

import redis
import typer
from rich.console import Console
from rich.table import Table

from worker.broker import CONNECTION_ERRORS, unavailable
from worker.cli.output import EXIT_BROKER_UNAVAILABLE
from worker.errors import ConfigurationError
from worker.ratelimit import (
    COGNITO_QUOTA_PER_SECOND,
    Category,
    LimitState,
    RedisRateLimiter,
    make_rate_limiter,
)
from worker.redact import mask_url
from worker.settings import load_settings

__all__ = ["limit_app"]

limit_app = typer.Typer(
    help="See and steer the global rate limiter (budgets, adaptive rate, throttles).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
_CATEGORY_HELP = "UserResourceRead or UserList."
SetCategoryOption = Annotated[
    str | None,
    typer.Option("--category", "-c", help=_CATEGORY_HELP, show_default="UserResourceRead"),
]
ResetCategoryOption = Annotated[
    str | None,
    typer.Option("--category", "-c", help=_CATEGORY_HELP, show_default="every category"),
]

_T = TypeVar("_T")

EXIT_REDIS_ERROR = 1
EXIT_BAD_INPUT = 2


class _Failure(Exception):
    """A command failed in a way the user should read about; carries the exit code."""

    def __init__(self, code: str, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code


@limit_app.command("show")
def show(json_output: JsonOption = False) -> None:
    """Show each category's budget, adaptive rate, floor, bulk share and throttles."""

    def action() -> list[LimitState]:
        limiter = _limiter()
        return [limiter.state(category) for category in Category]

    _run(action, json_output)


@limit_app.command("set")
def set_budget(
    rate: Annotated[
        float, typer.Argument(metavar="RATE", help="New budget in calls per second (> 0).")
    ],
    category: SetCategoryOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set a category's budget (calls/s) for every worker, effective on the next permit."""

    def action() -> list[LimitState]:
        chosen = _category(category) if category is not None else Category.USER_RESOURCE_READ
        if not (math.isfinite(rate) and rate > 0):
            raise _Failure(
                "InvalidRate",
                f"RATE must be a number of calls per second above 0, got {rate:g}",
                EXIT_BAD_INPUT,
            )
        limiter = _limiter()
        limiter.set_budget(chosen, rate)
        quota = COGNITO_QUOTA_PER_SECOND[chosen]
        if rate > quota:
            _stderr().print(
                f"[yellow]warning:[/] {rate:g}/s is above Cognito's default {chosen} quota "
                f"of {quota:g}/s per account and Region; make sure the quota was raised."
            )
        return [limiter.state(chosen)]

    _run(action, json_output)


@limit_app.command("reset")
def reset(category: ResetCategoryOption = None, json_output: JsonOption = False) -> None:
    """Return to the configured budget and forget the adaptive rate and throttle history."""

    def action() -> list[LimitState]:
        chosen = [_category(category)] if category is not None else list(Category)
        limiter = _limiter()
        for each in chosen:
            limiter.reset(each)
        return [limiter.state(each) for each in chosen]

    _run(action, json_output)


def _run(action: Callable[[], list[LimitState]], json_output: bool) -> None:
    """Run a command body; print its states, or its failure and exit with its code."""
    try:
        states = action()
    except _Failure as failure:
        if json_output:
            # "type" is the CLI contract (DESIGN.md); "code" kept for earlier readers.
            error = {"type": failure.code, "code": failure.code, "message": failure.message}
            typer.echo(json.dumps({"error": error}))
        _stderr().print(f"[red]error:[/] {failure.message}")
        raise typer.Exit(failure.exit_code) from None
    if json_output:
        typer.echo(json.dumps({"limits": [_as_json(state) for state in states]}))
    else:
        Console().print(_table(states))


def _category(value: str) -> Category:
    for category in Category:
        if value.strip().lower() == category.value.lower():
            return category
    names = " or ".join(c.value for c in Category)
    raise _Failure(
        "InvalidCategory", f"unknown category {value!r} (choose {names})", EXIT_BAD_INPUT
    )


def _limiter() -> _CheckedLimiter:
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        raise _Failure("ConfigurationError", str(exc), EXIT_BAD_INPUT) from None
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
    return _CheckedLimiter(make_rate_limiter(settings, client), mask_url(settings.redis_url))


class _CheckedLimiter:
    """The limiter calls the CLI makes, with Redis errors turned into a :class:`_Failure`."""

    def __init__(self, limiter: RedisRateLimiter, url: str) -> None:
        self._limiter = limiter
        self._url = url

    def state(self, category: Category) -> LimitState:
        return self._call(lambda: self._limiter.state(category))

    def set_budget(self, category: Category, per_second: float) -> None:
        self._call(lambda: self._limiter.set_budget(category, per_second))

    def reset(self, category: Category) -> None:
        self._call(lambda: self._limiter.reset(category))

    def _call(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except CONNECTION_ERRORS as exc:
            gone = unavailable(self._url, exc)
            raise _Failure(type(gone).__name__, str(gone), EXIT_BROKER_UNAVAILABLE) from None
        except redis.RedisError as exc:
            raise _Failure(
                "RedisError",
                f"Redis at {mask_url(self._url)} refused the call: {exc}",
                EXIT_REDIS_ERROR,
            ) from None


def _table(states: list[LimitState]) -> Table:
    table = Table(title="Cognito rate limits (calls/s, all workers together)")
    columns = ("budget", "rate now", "floor", "bulk share", "bulk rate", "throttles", "last")
    table.add_column("category")
    for column in columns:
        table.add_column(column, justify="right")
    now = time.time()
    for s in states:
        last = "never" if s.last_throttle_at is None else _ago(now - s.last_throttle_at)
        table.add_row(
            s.category.value,
            f"{s.budget_per_second:g}",
            f"{s.rate_per_second:.2f}",
            f"{s.floor_per_second:g}",
            f"{s.bulk_share:.0%}",
            f"{s.bulk_rate_per_second:.2f}",
            str(s.throttles),
            last,
        )
    return table


def _as_json(state: LimitState) -> dict[str, Any]:
    document = asdict(state)
    document["category"] = state.category.value
    return document


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)
