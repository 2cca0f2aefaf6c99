"""``courier resend``, ``courier verify-attribute`` and ``courier status``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from worker.cli.interrupt import EXIT_INTERRUPTED, interruptible, shielded
from worker.cli.output import emit, err_console, fail
from worker.cli.secrets import read_secret_hash
from worker.errors import CourierError

__all__ = ["register"]

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
WaitOption = Annotated[
    bool, typer.Option("--wait", help="Wait until the job is terminal; exit 1 unless it succeeded.")
]
IdempotencyOption = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help=(
            "Submitting the same key again within 24 h returns the job it made "
            "(another request with it is refused)."
        ),
    ),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout-seconds", min=0.1, help="How long --wait waits.")
]


def _finish(job_id: str, *, wait: bool, timeout_seconds: float, as_json: bool) -> None:
    """Print the job's document (after waiting for it with ``wait``).

    SIGINT or SIGTERM while waiting prints the job's id and state as they are (the job
    goes on: the workers have it) and exits 130.
    """
    from tasks import job_status  # noqa: PLC0415 - importing tasks connects the Celery app
    from tasks import wait as wait_for  # noqa: PLC0415

    try:
        with interruptible():
            document = (
                wait_for(job_id, timeout_seconds=timeout_seconds) if wait else job_status(job_id)
            )
    except KeyboardInterrupt:
        with shielded():
            _interrupted(job_id, as_json=as_json)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except CourierError as exc:
        fail(exc, as_json=as_json, code=1)
    emit(document, as_json=as_json, title=f"job {job_id}")
    if wait and document["state"] != "succeeded":
        raise typer.Exit(1)


def _interrupted(job_id: str, *, as_json: bool) -> None:
    """Print the job's document as it is now, marked ``interrupted`` (the wait, not the job)."""
    from tasks import job_status  # noqa: PLC0415

    try:
        document: dict[str, Any] = {**job_status(job_id), "interrupted": True}
    except CourierError as exc:  # Redis went away too: the id is what matters
        document = {"id": job_id, "state": None, "interrupted": True, "error": str(exc)}
    emit(document, as_json=as_json, title=f"job {job_id}")
    if not as_json:
        err_console.print(
            f"interrupted: job {job_id} is {document['state']} and goes on; "
            f"follow it with: courier status {job_id}",
            highlight=False,
        )


def resend(
    client_id: Annotated[str, typer.Option("--client-id", help="The app client id.")],
    username: Annotated[str, typer.Option("--username", help="The user to send a code to.")],
    secret_hash: Annotated[
        str | None,
        typer.Option(
            "--secret-hash",
            help=(
                "SecretHash; '-' reads one line from stdin (a value given here is hidden "
                "from the process title, with a warning: prefer '-', --secret-hash-file or "
                "COURIER_SECRET_HASH). Omit all to have workers compute it from "
                "COURIER_CLIENTS / COURIER_CLIENT_SECRETS."
            ),
        ),
    ] = None,
    secret_hash_file: Annotated[
        Path | None,
        typer.Option("--secret-hash-file", help="File whose first line is the SecretHash."),
    ] = None,
    idempotency_key: IdempotencyOption = None,
    wait: WaitOption = False,
    timeout_seconds: TimeoutOption = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Queue a ResendConfirmationCode and print its job status document.

    The SecretHash comes from --secret-hash - (one line of stdin), --secret-hash-file,
    --secret-hash H (hidden from the process title, with a warning) or COURIER_SECRET_HASH.
    """
    from tasks import submit_resend  # noqa: PLC0415

    secret_hash = read_secret_hash(secret_hash, secret_hash_file)
    try:
        job_id = submit_resend(
            client_id, username, secret_hash=secret_hash, idempotency_key=idempotency_key
        )
    except CourierError as exc:
        fail(exc, as_json=as_json)
    _finish(job_id, wait=wait, timeout_seconds=timeout_seconds, as_json=as_json)


def _read_token(file: Path | None, from_stdin: bool) -> str:
    if (file is None) == (not from_stdin):
        raise typer.BadParameter(
            "give exactly one of --access-token-file or --access-token-stdin "
            "(never the token itself on the command line)"
        )
    try:
        text = sys.stdin.read() if from_stdin else file.read_text(encoding="utf-8")  # type: ignore[union-attr]
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}") from None
    return text.strip()


def verify_attribute(
    attribute_name: Annotated[
        str, typer.Option("--attribute-name", help="email or phone_number, for example.")
    ],
    access_token_file: Annotated[
        Path | None,
        typer.Option("--access-token-file", help="File holding the user's AccessToken."),
    ] = None,
    access_token_stdin: Annotated[
        bool, typer.Option("--access-token-stdin", help="Read the AccessToken from stdin.")
    ] = False,
    idempotency_key: IdempotencyOption = None,
    wait: WaitOption = False,
    timeout_seconds: TimeoutOption = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Queue a GetUserAttributeVerificationCode and print its job status document."""
    from tasks import submit_attribute_verification  # noqa: PLC0415

    token = _read_token(access_token_file, access_token_stdin)
    try:
        job_id = submit_attribute_verification(
            token, attribute_name, idempotency_key=idempotency_key
        )
    except CourierError as exc:
        fail(exc, as_json=as_json)
    _finish(job_id, wait=wait, timeout_seconds=timeout_seconds, as_json=as_json)


def status(
    job_id: Annotated[str, typer.Argument(help="The id that submit printed.")],
    as_json: JsonOption = False,
) -> None:
    """Print a job's status document. An unknown id exits 2, as for a campaign."""
    from tasks import job_status  # noqa: PLC0415

    try:
        document: dict[str, Any] = job_status(job_id)
    except CourierError as exc:  # JobNotFoundError, a malformed id: bad input
        fail(exc, as_json=as_json, code=2)
    emit(document, as_json=as_json, title=f"job {job_id}")


def register(app: typer.Typer) -> None:
    """Add the job commands to ``app``."""
    app.command()(resend)
    app.command("verify-attribute")(verify_attribute)
    app.command()(status)
