"""The producer's face: submit jobs, read their status, wait for them.

Inputs are checked against botocore's model before anything is enqueued (a clear
:class:`~worker.errors.InvalidRequestError` naming the field, and nothing enqueued).
The status document is written (``queued``) before the message is sent, so a submitted
job answers ``job_status`` at once. Secrets are sealed before they leave the process.
Identical requests and repeated idempotency keys answer with the existing job
(:mod:`worker.dedupe`). Producers build no boto3 client and read no AWS configuration.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tasks.jobs import get_user_attribute_verification_code, resend_confirmation_code
from worker.app import INTERACTIVE_QUEUE
from worker.broker.door import CONNECTION_ERRORS, at_the_door
from worker.dedupe import check_idempotency_key, fingerprint
from worker.errors import WaitTimeoutError
from worker.identity.users import token_identity
from worker.liveness.reaper import kwargs_repr
from worker.runtime import get_runtime
from worker.status import TERMINAL_STATES
from worker.validation import (
    check_access_token,
    check_attribute_name,
    check_client_id,
    check_client_metadata,
    check_job_id,
    check_seconds,
    check_secret_hash,
    check_username,
)

__all__ = ["job_status", "submit_attribute_verification", "submit_resend", "wait"]


def _enqueue(
    task: Any,
    operation: str,
    kwargs: dict[str, Any],
    request_fingerprint: str,
    *,
    idempotency_key: str | None,
    principal: str | None,
) -> str:
    """Write the ``queued`` status, let the deduper decide, send the message if new."""
    runtime = get_runtime()
    statuses, deduper = runtime.statuses, runtime.deduper
    job_id: str = kwargs["job_id"]
    # secrets in kwargs are sealed
    statuses.create(job_id, operation, payload=kwargs, principal=principal)
    scope = {"idempotency_key": idempotency_key, "principal": principal}
    try:
        claim = deduper.claim(job_id, request_fingerprint, **scope)
    except Exception:
        statuses.delete(job_id)
        raise
    if not claim.is_new:
        statuses.delete(job_id)  # the request is answered by an existing job
        return claim.job_id
    try:
        _publish(task, job_id, kwargs)
    except Exception:
        # nothing half written: no status without a message, no key naming a lost job
        deduper.forget(claim, request_fingerprint, **scope)
        statuses.delete(job_id)
        raise
    statuses.accepted()  # the document and the message on a replica: survives a failover
    return job_id


_PUBLISH_ATTEMPTS = 3
_PUBLISH_PAUSE_SECONDS = 0.3


def _publish(task: Any, job_id: str, kwargs: dict[str, Any]) -> None:
    """Send the job's message, trying again twice after a connection error (a failover's
    moved primary, a reset). kombu's own publish retry is off: after a failover it revived
    a closed channel and raised ``AttributeError: 'NoneType' object has no attribute
    'client'`` (seen in tests/resilience/test_managed_failover.py); each attempt here starts
    from the producer pool afresh.

    Raises:
        kombu.exceptions.OperationalError, redis.ConnectionError: still failing after
            the last attempt (the caller removes what it wrote).
    """
    for attempt in range(1, _PUBLISH_ATTEMPTS + 1):
        try:
            task.apply_async(
                kwargs=kwargs,
                task_id=job_id,
                queue=INTERACTIVE_QUEUE,
                argsrepr="()",
                kwargsrepr=kwargs_repr(kwargs),
                retry=False,
            )
        except CONNECTION_ERRORS:
            if attempt == _PUBLISH_ATTEMPTS:
                raise
            time.sleep(_PUBLISH_PAUSE_SECONDS)
        else:
            return


@at_the_door
def submit_resend(
    client_id: str,
    username: str,
    *,
    secret_hash: str | None = None,
    client_metadata: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    principal: str | None = None,
) -> str:
    """Queue a ResendConfirmationCode for ``username``; returns the job id.

    Without ``secret_hash`` the worker computes it from the client registry
    (COURIER_CLIENTS, COURIER_CLIENT_SECRETS) when the client has a secret, so producers
    never need to hold the client secret.

    A request identical to one queued, running or retrying (same client, username as the
    pool counts it, ClientMetadata) returns that job's id instead of a new job; so does an
    ``idempotency_key`` (1-255 printable ASCII) seen within COURIER_IDEMPOTENCY_TTL_SECONDS
    (24 h), finished or not (:mod:`worker.dedupe`). A request with another SecretHash
    never shares a job, nor does one from another ``principal`` (the HTTP front's API
    principal, recorded on the job; idempotency keys are per principal).

    Raises:
        InvalidRequestError: an input breaks Cognito's constraints, or ``idempotency_key``
            was used for a different request (naming the key); nothing is enqueued.
        ConfigurationError: ``secret_hash`` was given and COURIER_SEAL_KEY is not set.
        BrokerUnavailable: Redis cannot be reached (nothing is enqueued).
        EvictingRedisError: Redis may evict keys (checked once per process).
    """
    kwargs: dict[str, Any] = {
        "job_id": str(uuid.uuid4()),
        "client_id": check_client_id(client_id),
        "username": check_username(username),
        "sealed_secret_hash": None,
        "client_metadata": check_client_metadata(client_metadata),
    }
    key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
    if secret_hash is not None:
        kwargs["sealed_secret_hash"] = get_runtime().sealer.seal(check_secret_hash(secret_hash))
    runtime = get_runtime()
    client = runtime.clients.lookup(kwargs["client_id"])
    request_fingerprint = fingerprint(
        "ResendConfirmationCode",
        {
            "client_id": client.client_id,
            "user": client.fold(kwargs["username"]),
            "client_metadata": kwargs["client_metadata"],
        },
        credential=runtime.deduper.credential(secret_hash),
        principal=principal,
    )
    return _enqueue(
        resend_confirmation_code,
        "ResendConfirmationCode",
        kwargs,
        request_fingerprint,
        idempotency_key=key,
        principal=principal,
    )


@at_the_door
def submit_attribute_verification(
    access_token: str,
    attribute_name: str,
    *,
    client_metadata: dict[str, str] | None = None,
    idempotency_key: str | None = None,
    principal: str | None = None,
) -> str:
    """Queue a GetUserAttributeVerificationCode for the token's user; returns the job id.

    The token is verified first (:mod:`worker.identity.tokens`: RS256 signature against
    its pool's JWKS, ``exp``, ``token_use`` ``access``, ``iss``, the app client when a
    registry is configured), then sealed with COURIER_SEAL_KEY before it leaves this
    process. Identical requests (the same token, attribute, ClientMetadata, principal) and
    idempotency keys answer with an existing job as for :func:`submit_resend`; another
    token for the same user makes a job of its own.

    Raises:
        InvalidRequestError: an input breaks Cognito's constraints, or ``idempotency_key``
            was used for a different request (naming the key); nothing is enqueued.
        NotAuthorizedError: the token fails verification (what failed is named; nothing
            is enqueued, no guard slot is taken).
        TokenKeysUnavailableError: the pool's JWKS cannot be fetched; retryable, nothing
            is enqueued.
        ConfigurationError: COURIER_SEAL_KEY is not set.
        BrokerUnavailable: Redis cannot be reached (nothing is enqueued).
        EvictingRedisError: Redis may evict keys (checked once per process).
    """
    check_access_token(access_token)
    kwargs: dict[str, Any] = {
        "job_id": str(uuid.uuid4()),
        "sealed_access_token": None,
        "attribute_name": check_attribute_name(attribute_name),
        "client_metadata": check_client_metadata(client_metadata),
    }
    key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
    runtime = get_runtime()
    sealer = runtime.sealer  # no seal key: refused before any JWKS fetch
    identity = token_identity(runtime.tokens, access_token)
    kwargs["sealed_access_token"] = sealer.seal(access_token)
    request_fingerprint = fingerprint(
        "GetUserAttributeVerificationCode",
        {
            "user": identity.user_key,
            "attribute_name": kwargs["attribute_name"],
            "client_metadata": kwargs["client_metadata"],
        },
        credential=runtime.deduper.credential(access_token),
        principal=principal,
    )
    return _enqueue(
        get_user_attribute_verification_code,
        "GetUserAttributeVerificationCode",
        kwargs,
        request_fingerprint,
        idempotency_key=key,
        principal=principal,
    )


@at_the_door
def job_status(job_id: str) -> dict[str, Any]:
    """The job status document (DESIGN.md).

    Raises:
        InvalidRequestError: ``job_id`` is not a string of 1-64 characters.
        JobNotFoundError: no such job (never submitted, or expired).
        BrokerUnavailable: Redis cannot be reached.
    """
    return get_runtime().statuses.get(check_job_id(job_id))


@at_the_door
def wait(
    job_id: str, *, timeout_seconds: float, poll_interval_seconds: float = 0.05
) -> dict[str, Any]:
    """Poll every ``poll_interval_seconds`` until the job is terminal; returns its document.

    Raises:
        InvalidRequestError: ``job_id`` is not a string of 1-64 characters,
            ``timeout_seconds`` is not a finite number >= 0, or ``poll_interval_seconds``
            is not a finite number > 0 (the error names the argument).
        JobNotFoundError: no such job.
        WaitTimeoutError: still not terminal after ``timeout_seconds``.
        BrokerUnavailable: Redis cannot be reached.
    """
    check_job_id(job_id)
    timeout_seconds = check_seconds("timeout_seconds", timeout_seconds)
    poll_interval_seconds = check_seconds(
        "poll_interval_seconds", poll_interval_seconds, allow_zero=False
    )
    deadline = time.monotonic() + timeout_seconds
    while True:
        document = job_status(job_id)
        if document["state"] in TERMINAL_STATES:
            return document
        if time.monotonic() >= deadline:
            raise WaitTimeoutError(
                f"job {job_id} is still {document['state']} after {timeout_seconds:g} s"
            )
        time.sleep(poll_interval_seconds)
