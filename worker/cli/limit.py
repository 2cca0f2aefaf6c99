"""``courier limit``: see and steer the global rate limiter at run time.

Budgets are per AWS Region (Cognito's quotas are per account and Region;
:mod:`worker.ratelimit.regional`). ``show`` prints, for every Region configured (the
registry's pools, COURIER_COGNITO_REGION) or seen by a worker, each category's budget,
current adaptive rate, floor, bulk share and rate, throttle history, and the quota
observed at repeated throttles (flagged when it is below the budget); ``set RATE``
overrides a category's budget from the next permit, in one Region (``--region``) or in
every Region without an override of its own; ``reset`` returns to the configured budget
and forgets the adaptive state (one Region, or all of them).
With ``--json`` each command prints exactly one JSON document on stdout:
``{"limits": [<state>, ...]}``, or ``{"error": {"type", "message"}}`` when it fails, as
every command does (:func:`worker.cli.output.report`; Redis unreachable: type
``BrokerUnavailable``, exit status 3).
Exit codes: 0 done, 2 bad input or configuration, 3 Redis unreachable (BrokerUnavailable).
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

from worker.broker.clients import redis_client
from worker.broker.door import CONNECTION_ERRORS, unavailable
from worker.cli.context import command_settings
from worker.cli.helptext import SummaryGroup
from worker.cli.output import EXIT_BROKER_UNAVAILABLE, report
from worker.errors import ConfigurationError
from worker.identity.clients import check_region
from worker.observe.redact import mask_url
from worker.ratelimit import (
    BUDGET_RANGE,
    COGNITO_QUOTA_PER_SECOND,
    MAX_BUDGET_PER_SECOND,
    MIN_BUDGET_PER_SECOND,
    Category,
    LimitState,
    RedisRateLimiter,
    RegionalLimiters,
    make_regional_limiters,
)

__all__ = ["limit_app"]

limit_app = typer.Typer(
    help="See and steer the global rate limiter (budgets, adaptive rate, throttles).",
    no_args_is_help=True,
    rich_markup_mode=None,  # help strings are plain text (worker.cli.helptext)
    cls=SummaryGroup,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
_CATEGORY_HELP = "UserResourceRead or UserList."
SetCategoryOption = Annotated[
    str | None,
    typer.Option("--category", "-c", help=_CATEGORY_HELP, show_default="UserResourceRead"),
]
SetRegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        "-r",
        help="AWS Region, e.g. eu-west-1.",
        show_default="every Region without a budget of its own",
    ),
]
ResetRegionOption = Annotated[
    str | None,
    typer.Option("--region", "-r", help="AWS Region, e.g. eu-west-1.", show_default="every Region"),
]
ShowRegionOption = Annotated[
    str | None,
    typer.Option("--region", "-r", help="Only this AWS Region.", show_default="every Region"),
]
ResetCategoryOption = Annotated[
    str | None,
    typer.Option("--category", "-c", help=_CATEGORY_HELP, show_default="every category"),
]

_T = TypeVar("_T")

EXIT_REDIS_ERROR = 1
EXIT_BAD_INPUT = 2


class _Failure(Exception):
    """A command failed in a way the user should read about: the error's ``type`` in the
    ``--json`` document (``InvalidRate``, ``BrokerUnavailable``, ...), its message and the
    exit code."""

    def __init__(self, kind: str, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.exit_code = exit_code


@limit_app.command("show")
def show(region: ShowRegionOption = None, json_output: JsonOption = False) -> None:
    """Show, per Region configured or seen, each category's budget, rate and throttles,
    and the quota seen at repeated throttles (flagged when it is below the budget)."""

    def action() -> list[LimitState]:
        limiters = _limiters()
        chosen: list[str | None] = [_region(region)] if region is not None else limiters.regions()
        return [limiters.state(each, category) for each in chosen for category in Category]

    _run(action, json_output)


@limit_app.command("set")
def set_budget(
    rate: Annotated[
        float,
        typer.Argument(metavar="RATE", help=f"New budget in calls per second, {BUDGET_RANGE}."),
    ],
    category: SetCategoryOption = None,
    region: SetRegionOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set a category's budget (calls/s) in a Region (or every Region) for every worker,
    effective on the next permit."""

    def action() -> list[LimitState]:
        chosen = _category(category) if category is not None else Category.USER_RESOURCE_READ
        if not (math.isfinite(rate) and MIN_BUDGET_PER_SECOND <= rate <= MAX_BUDGET_PER_SECOND):
            raise _Failure(
                "InvalidRate", f"RATE must be {BUDGET_RANGE}, got {rate:g}", EXIT_BAD_INPUT
            )
        where = _region(region) if region is not None else None
        limiters = _limiters()
        limiters.set_budget(where, chosen, rate)
        quota = COGNITO_QUOTA_PER_SECOND[chosen]
        if rate > quota:
            _stderr().print(
                f"[yellow]warning:[/] {rate:g}/s is above Cognito's default {chosen} quota "
                f"of {quota:g}/s per account and Region; make sure the quota was raised."
            )
        shown: list[str | None] = [where] if where is not None else limiters.regions()
        return [limiters.state(each, chosen) for each in shown]

    _run(action, json_output)


@limit_app.command("reset")
def reset(
    category: ResetCategoryOption = None,
    region: ResetRegionOption = None,
    json_output: JsonOption = False,
) -> None:
    """Return to the configured budget and forget the adaptive rate and throttle history
    (in one Region, or in every Region and the budget set for all of them)."""

    def action() -> list[LimitState]:
        chosen = [_category(category)] if category is not None else list(Category)
        limiters = _limiters()
        regions: list[str | None] = [_region(region)] if region is not None else limiters.regions()
        for each in chosen:
            if region is None:
                limiters.set_budget(None, each, None)
            for where in regions:
                limiters.reset(where, each)
        return [limiters.state(where, each) for where in regions for each in chosen]

    _run(action, json_output)


def _run(action: Callable[[], list[LimitState]], json_output: bool) -> None:
    """Run a command body; print its states, or its failure and exit with its code."""
    try:
        states = action()
    except _Failure as failure:
        report(failure.message, as_json=json_output, kind=failure.kind)
        raise typer.Exit(failure.exit_code) from None
    if json_output:
        typer.echo(json.dumps({"limits": [_as_json(state) for state in states]}))
    else:
        console = Console()
        for table in _tables(states):
            console.print(table)


def _category(value: str) -> Category:
    for category in Category:
        if value.strip().lower() == category.value.lower():
            return category
    names = " or ".join(c.value for c in Category)
    raise _Failure(
        "InvalidCategory", f"unknown category {value!r} (choose {names})", EXIT_BAD_INPUT
    )


def _region(value: str) -> str:
    try:
        return check_region(value.strip())
    except ValueError as exc:
        raise _Failure("InvalidRegion", str(exc), EXIT_BAD_INPUT) from None


def _limiters() -> _CheckedLimiters:
    try:
        settings = command_settings()
    except ConfigurationError as exc:
        raise _Failure("ConfigurationError", str(exc), EXIT_BAD_INPUT) from None
    client = redis_client(settings, connect_timeout_seconds=5, socket_timeout_seconds=5)
    return _CheckedLimiters(
        make_regional_limiters(settings, client),
        settings.client_registry.configured_regions(),
        mask_url(settings.redis_url),
    )


class _CheckedLimiters:
    """The limiter calls the CLI makes, with Redis errors turned into a :class:`_Failure`.

    A Region of ``None`` is the budget of every Region without one of its own.
    """

    def __init__(self, limiters: RegionalLimiters, configured: list[str], where: str) -> None:
        self._limiters = limiters
        self._configured = configured
        self._where = where

    def regions(self) -> list[str | None]:
        """Every Region configured or seen; none yet: ``[None]``, the budget of every Region."""
        known: list[str | None] = list(self._call(lambda: self._limiters.known(self._configured)))
        return known or [None]

    def _one(self, region: str | None) -> RedisRateLimiter:
        if region is None:
            return self._limiters.every_region
        return self._call(lambda: self._limiters.for_region(region))

    def state(self, region: str | None, category: Category) -> LimitState:
        return self._call(lambda: self._one(region).state(category))

    def set_budget(self, region: str | None, category: Category, rate: float | None) -> None:
        if region is None:
            self._call(lambda: self._limiters.set_every_region_budget(category, rate))
        elif rate is not None:
            self._call(lambda: self._one(region).set_budget(category, rate))

    def reset(self, region: str | None, category: Category) -> None:
        self._call(lambda: self._one(region).reset(category))

    def _call(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except CONNECTION_ERRORS as exc:
            gone = unavailable(self._where, exc)
            raise _Failure(type(gone).__name__, str(gone), EXIT_BROKER_UNAVAILABLE) from None
        except redis.RedisError as exc:
            raise _Failure(
                "RedisError",
                f"Redis at {self._where} refused the call: {exc}",
                EXIT_REDIS_ERROR,
            ) from None


def _tables(states: list[LimitState]) -> list[Table]:
    """One table per category (in the order of ``states``), a row per Region.

    Every column but the Region's folds a value it cannot fit (80 columns hold a table),
    so nothing is cut short with an ellipsis.
    """
    by_category: dict[Category, list[LimitState]] = {}
    for state in states:
        by_category.setdefault(state.category, []).append(state)
    return [_table(category, rows) for category, rows in by_category.items()]


def _table(category: Category, states: list[LimitState]) -> Table:
    table = Table(
        title=f"{category.value}: calls/s per Region, all workers together",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("region", no_wrap=True)
    for column in ("budget", "rate\nnow", "floor", "bulk\nshare", "bulk\nrate"):
        table.add_column(column, justify="right", overflow="fold")
    table.add_column("throttles", overflow="fold")
    table.add_column("quota\nseen", overflow="fold")
    now = time.time()
    for s in states:
        last = "never" if s.last_throttle_at is None else f"last {_ago(now - s.last_throttle_at)}"
        table.add_row(
            s.region or "(every Region)",
            f"{s.budget_per_second:g}",
            f"{s.rate_per_second:.2f}",
            f"{s.floor_per_second:g}",
            f"{s.bulk_share:.0%}",
            f"{s.bulk_rate_per_second:.2f}",
            f"{s.throttles} ({last})",
            _quota_seen(s),
        )
    return table


def _quota_seen(state: LimitState) -> str:
    """The observed quota, flagged when it is below the budget; '-' before a measurement."""
    observed = state.observed_quota_per_second
    if observed is None:
        return "-"
    return f"{observed:.1f} (below budget)" if state.quota_below_budget else f"{observed:.1f}"


def _as_json(state: LimitState) -> dict[str, Any]:
    document = asdict(state)
    document["category"] = state.category.value
    document["quota_below_budget"] = state.quota_below_budget
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
