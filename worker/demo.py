"""``courier demo``: the whole job path on this machine, against the embedded emulator.

It starts the local Cognito emulator in-process with a small pool made through ordinary
boto3 calls, starts a real worker process (``courier worker``) on the configured Redis,
submits real jobs through the producer API, runs a small bulk campaign from CSV text, and
prints what became of each. It uses a
fresh seal key and a temporary client-secrets file, and leaves nothing but expiring job
documents behind. Exit status 0 when every job ended as expected.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from worker.broker import unavailable
from worker.emulator import EmulatorConfig, EmulatorHandle, running_emulator
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
    """Run the demo against ``settings.redis_url``; returns the process exit status.

    With ``as_json`` the progress goes to stderr and stdout gets one JSON document:
    ``{"jobs": [{"title", "expected", "status": <job status document>}], "all_as_expected",
    "deliveries", "elapsed_seconds"}``.
    """
    console.stderr = as_json
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise unavailable(settings.redis_url, exc) from None

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
            "COURIER_REDIS_URL": settings.redis_url,
            "COURIER_COGNITO_ENDPOINT_URL": emulator.endpoint_url,
            "COURIER_CLIENT_SECRETS": str(secrets_path),
            "COURIER_SEAL_KEY": generate_key(),
            "COURIER_RETRY_BASE_SECONDS": "0.05",
        }
        os.environ.update(env)  # this process is the producer: same settings as the worker
        from worker.runtime import reset_runtime  # noqa: PLC0415

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
            for n in range(6):
                expected = "succeeded" if n < 5 else "skipped"
                cases.append(
                    _Case(
                        f"resend: dave, #{n + 1} this hour",
                        submit_resend(pool["client_id"], "dave"),
                        expected,
                    )
                )
            started = time.monotonic()
            outcomes = [(case, wait(case.job_id, timeout_seconds=60)) for case in cases]
            elapsed = time.monotonic() - started
            campaign = _run_campaign(pool["client_id"])
        return _report(outcomes, campaign, emulator, elapsed, as_json=as_json)


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
    while document["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
        document = campaign_status(started["id"])
    return {**document, "rejects": started["rejects"], "duplicates": started["duplicates"]}


def _report(
    outcomes: list[tuple[_Case, dict[str, Any]]],
    campaign: dict[str, Any],
    emulator: EmulatorHandle,
    elapsed: float,
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
    if as_json:
        document = {
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
