"""``courier demo``'s output: narration, the SIGTERM checkpoint, and the final report.

Split from :mod:`worker.contrib.demo` (which runs the demo); nothing here calls Cognito.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from worker.contrib.emulator import EmulatorHandle

__all__ = [
    "TERMINAL",
    "Case",
    "checkpoint",
    "console",
    "counts_text",
    "exit_on_sigterm",
    "finished",
    "narration",
    "report",
    "say",
    "show",
    "stopping",
    "summary_of",
]

console = Console()
narration = {"json": False}  # COURIER_LOG_FORMAT=json: narration as JSON log lines


@dataclass(frozen=True)
class Case:
    title: str
    job_id: str
    expected: str


stopping: dict[str, int] = {}  # "status": the exit status a SIGTERM asked for


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM handler: raise SystemExit(128 + signum) and remember it (see
    :func:`checkpoint`)."""
    # Unwind the context managers: the worker, the emulator and the private Redis stop.
    # Python ignores an exception raised while it runs a finaliser (a weakref callback,
    # a __del__), so the wish is also kept and honoured at the next checkpoint.
    stopping["status"] = 128 + signum
    raise SystemExit(128 + signum)


def checkpoint() -> None:
    """Exit as a SIGTERM asked, if one came and its SystemExit was swallowed."""
    if "status" in stopping:
        raise SystemExit(stopping["status"])


def say(markup: str) -> None:
    """One line of narration: rich text, or a JSON log line under COURIER_LOG_FORMAT=json."""
    checkpoint()
    if narration["json"]:
        logging.getLogger(__name__).info("%s", Text.from_markup(markup).plain)
    else:
        console.print(markup, soft_wrap=True)


def show(table: Table, *, as_json: bool) -> None:
    """A table for people; left out when both the logs and the output are JSON."""
    if not (narration["json"] and as_json):
        console.print(table)


TERMINAL = ("succeeded", "failed", "skipped", "cancelled")


def finished(document: dict[str, Any]) -> int:
    """Campaign rows in a terminal state."""
    return sum(int(document["counts"].get(state, 0)) for state in TERMINAL)


def counts_text(document: dict[str, Any]) -> str:
    return ", ".join(f"{state} {n}" for state, n in document["counts"].items() if n)


def summary_of(
    outcomes: list[tuple[Case, dict[str, Any]]], campaign: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Per outcome (job state): how many single jobs and campaign rows ended so."""
    jobs = Counter(doc["state"] for _, doc in outcomes)
    states = [*TERMINAL, *sorted(set(jobs) | set(campaign["counts"]) - set(TERMINAL))]
    summary = {
        state: {"jobs": jobs.get(state, 0), "campaign_rows": int(campaign["counts"].get(state, 0))}
        for state in states
    }
    return {state: row for state, row in summary.items() if row["jobs"] or row["campaign_rows"]}


def report(
    outcomes: list[tuple[Case, dict[str, Any]]],
    campaign: dict[str, Any],
    emulator: EmulatorHandle,
    timing: dict[str, float],
    redis_info: dict[str, Any],
    *,
    expected_rows: int,
    confirmation: dict[str, Any],
    as_json: bool,
) -> int:
    """Print the jobs' table, the campaign's line, the confirmation's line and the
    outcomes' table (and, with ``as_json``, the JSON document :func:`worker.contrib.demo.
    run_demo` describes); returns 0 when every job, the campaign (``expected_rows``
    succeeded, 2 rejected, 1 duplicate) and the confirmation ended as expected, else 1."""
    table = Table(title="cognito-courier demo")
    for column in ("job", "state", "tries", "outcome", "ok"):
        table.add_column(column)
    all_ok = True
    for case, doc in outcomes:
        if doc["delivery"]:
            shown = f"{doc['delivery']['DeliveryMedium']} to {doc['delivery']['Destination']}"
        else:
            shown = doc["error"]["code"] if doc["error"] else ""
        ok = doc["state"] == case.expected
        all_ok &= ok
        table.add_row(
            case.title,
            doc["state"],
            str(doc["attempts"]),
            shown,
            "[green]yes[/]" if ok else f"[red]no: {case.expected}[/]",
        )
    show(table, as_json=as_json)
    campaign_ok = (
        campaign["state"] == "done"
        and campaign["counts"]["succeeded"] == expected_rows
        and campaign["rejected"] == 2
        and campaign["duplicates"] == 1
    )
    all_ok &= campaign_ok
    say(
        f"campaign {campaign['id']}: {campaign['state']}, "
        f"{campaign['counts']['succeeded']}/{campaign['total']} succeeded, "
        f"{campaign['rejected']} rejected (lines "
        f"{', '.join(str(r['line']) for r in campaign['rejects'])}), "
        f"{campaign['duplicates']} duplicate dropped: "
        + ("[green]as expected[/]" if campaign_ok else "[red]not as expected[/]")
    )
    all_ok &= bool(confirmation["ok"])
    say(
        f"confirm: {confirmation['username']}'s delivered code -> ConfirmSignUp -> "
        f"{confirmation['status']}: "
        + ("[green]as expected[/]" if confirmation["ok"] else "[red]not as expected[/]")
    )
    deliveries = [
        d
        for d in emulator.deliveries()
        if d["operation"] in ("ResendConfirmationCode", "GetUserAttributeVerificationCode")
    ]
    summary = summary_of(outcomes, campaign)
    summary_table = Table(title="outcomes")
    for column in ("outcome", "jobs", "campaign rows"):
        summary_table.add_column(column, justify="left" if column == "outcome" else "right")
    for state, row in summary.items():
        summary_table.add_row(state, str(row["jobs"]), str(row["campaign_rows"]))
    summary_table.add_row(
        "[bold]total[/]",
        str(len(outcomes)),
        str(sum(row["campaign_rows"] for row in summary.values())),
    )
    show(summary_table, as_json=as_json)
    if as_json:
        document = {
            "redis": redis_info,
            "summary": summary,
            "jobs": [
                {"title": case.title, "expected": case.expected, "status": doc}
                for case, doc in outcomes
            ],
            "campaign": campaign,
            "confirmation": confirmation,
            "all_as_expected": all_ok,
            "deliveries": len(deliveries),
            "elapsed_seconds": round(timing["elapsed"], 3),
            "total_seconds": round(timing["total"], 3),
        }
        sys.stdout.write(json.dumps(document) + "\n")
    say(
        f"{len(outcomes)} jobs and a campaign of {campaign['total']} rows finished "
        f"{timing['elapsed']:.1f} s after the first submission ({timing['total']:.1f} s "
        f"in all, start-up included); the emulator recorded {len(deliveries)} code deliveries"
    )
    return 0 if all_ok else 1
