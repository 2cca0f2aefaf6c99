"""Idempotency keys and coalescing: one job for one request, however often it is submitted.

Two records, both in Redis and both keyed by a hash (an HMAC under COURIER_SEAL_KEY when
one is set, else SHA-256), so neither an idempotency key nor a username sits in Redis
in clear:

- ``courier:idem:{hash(principal, idempotency key)}``: a hash ``{job_id, fingerprint}``
  kept COURIER_IDEMPOTENCY_TTL_SECONDS (24 h). The same key returns the job it created,
  finished or not; the same key with another request's fingerprint is refused
  (:class:`~worker.errors.InvalidRequestError` naming the key, HTTP 422). A key whose job's
  status document is gone (expired before the key, deleted) no longer answers: the
  request starts a new job, which the key then names.
- ``courier:coalesce:{hash(fingerprint)}``: the id of the latest job for that request. A
  new identical request gets that id while the job is ``queued``, ``running`` or
  ``retrying`` (and ``succeeded`` up to COURIER_COALESCE_SUCCEEDED_SECONDS ago, 0 by
  default); ``courier:jobs:coalesced`` counts the requests answered so.

The fingerprint of a request (:func:`fingerprint`) is its operation and what Cognito would
see of it: for ResendConfirmationCode the client, the username as the pool counts it
(case-folded unless the client is declared case-sensitive, :mod:`worker.identity.clients`) and the
ClientMetadata; for GetUserAttributeVerificationCode the token's verified user (issuer and
username, :func:`~worker.identity.users.token_identity`), the attribute and the
ClientMetadata. Two more parts keep callers apart:

- ``credential``: :meth:`Deduper.credential`, an HMAC under the seal key of the SecretHash
  (when the caller gave one) or of the whole AccessToken. Requests with different
  credentials never share a job: a wrong SecretHash or a forged token in front of the
  right one gets a job of its own, and the right one is sent.
- ``principal``: the HTTP front's API principal (its name, :mod:`worker.api.principals`)
  or None for the Python API. A caller never receives a job id another principal's
  request created, and idempotency keys are per principal (``courier:idem:`` hashes the
  principal with the key), so one service cannot probe or reuse another's keys.

One Redis transaction (WATCH on the records and on the coalesced job's status) decides;
the new job's ``queued`` status document is written before, so an id handed to anyone has
a status. If the message cannot then be enqueued, :meth:`Deduper.forget` takes the records
back. A producer that dies between the decision and the enqueue leaves an id that stays
``queued``: identical requests coalesce onto it until the coalescing record expires (the
visibility timeout, 15 min by default) and its idempotency key answers it for 24 h.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import redis

from worker.errors import InvalidRequestError
from worker.status import job_key

__all__ = [
    "ACTIVE_STATES",
    "COALESCED_KEY",
    "Claim",
    "Deduper",
    "check_idempotency_key",
    "fingerprint",
]

COALESCED_KEY = "courier:jobs:coalesced"
ACTIVE_STATES = frozenset({"queued", "running", "retrying"})
_IDEM_PREFIX = "courier:idem:"
_COALESCE_PREFIX = "courier:coalesce:"
_MAX_KEY_LENGTH = 255


def check_idempotency_key(value: Any) -> str:
    """An idempotency key: 1-255 printable ASCII characters (as an HTTP header can carry).

    Raises:
        InvalidRequestError: naming ``IdempotencyKey`` and what is wrong.
    """
    if not isinstance(value, str):
        raise InvalidRequestError("IdempotencyKey", "must be a string")
    if not 1 <= len(value) <= _MAX_KEY_LENGTH:
        raise InvalidRequestError(
            "IdempotencyKey", f"must be 1-{_MAX_KEY_LENGTH} characters, got {len(value)}"
        )
    if not all(" " <= c <= "~" for c in value):
        raise InvalidRequestError("IdempotencyKey", "must be printable ASCII")
    return value


def fingerprint(
    operation: str,
    parts: dict[str, Any],
    *,
    credential: str | None = None,
    principal: str | None = None,
) -> str:
    """A canonical text naming one request (see the module); hashed before it is stored.

    ``credential`` is :meth:`Deduper.credential` of the request's SecretHash or token
    (never the secret itself); ``principal`` the API principal's name, or None.
    """
    document = {"operation": operation, **parts, "credential": credential, "principal": principal}
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Claim:
    """What the deduper decided for one submission.

    Attributes:
        job_id: the job that answers the request.
        outcome: ``new`` (enqueue it), ``coalesced`` (an identical job is in flight or
            just succeeded) or ``idempotent`` (the idempotency key had a job already).
    """

    job_id: str
    outcome: Literal["new", "coalesced", "idempotent"]

    @property
    def is_new(self) -> bool:
        """True when the caller must enqueue :attr:`job_id`."""
        return self.outcome == "new"


class Deduper:
    """Decides whether a submission makes a new job (see the module).

    Args:
        client: the Redis client.
        secret: key of the HMAC that hides keys and fingerprints (None: bare SHA-256).
        idempotency_ttl_seconds: how long an idempotency key answers.
        coalesce_ttl_seconds: how long a coalescing record lives (at least as long as a
            job may wait and run).
        coalesce_succeeded_seconds: how long after succeeding a job still answers
            identical requests (0: only while queued, running or retrying).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        secret: bytes | None,
        idempotency_ttl_seconds: int,
        coalesce_ttl_seconds: int,
        coalesce_succeeded_seconds: float = 0.0,
    ) -> None:
        self._redis = client
        self._secret = secret
        self._idem_ttl = idempotency_ttl_seconds
        self._coalesce_ttl = max(1, int(coalesce_ttl_seconds + coalesce_succeeded_seconds))
        self._succeeded_window = coalesce_succeeded_seconds

    def _digest(self, text: str) -> str:
        data = text.encode("utf-8")
        if self._secret is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self._secret, data, hashlib.sha256).hexdigest()

    def credential(self, secret: str | None) -> str | None:
        """A keyed digest of a request's credential (SecretHash or AccessToken), or None.

        An HMAC-SHA256 under the seal key (bare SHA-256 without one: no credential reaches
        the deduper then, since sealing it needs the key), hex; the secret never leaves.
        """
        return None if secret is None else self._digest("credential|" + secret)

    def _idem_key(self, idempotency_key: str, principal: str | None) -> str:
        scope = json.dumps([principal, idempotency_key])
        return _IDEM_PREFIX + self._digest("idempotency|" + scope)

    def claim(
        self,
        new_job_id: str,
        request_fingerprint: str,
        *,
        idempotency_key: str | None = None,
        principal: str | None = None,
    ) -> Claim:
        """Decide, atomically, which job answers this submission.

        ``new_job_id``'s status document must already exist (``queued``): when the answer
        is another job, the caller deletes it.

        Raises:
            InvalidRequestError: ``idempotency_key`` was used for a different request
                within the idempotency window (naming the key).
            redis.RedisError: Redis cannot be reached.
        """
        fp_digest = self._digest(request_fingerprint)
        idem_key = None
        if idempotency_key is not None:
            idem_key = self._idem_key(idempotency_key, principal)
        coalesce_key = _COALESCE_PREFIX + fp_digest
        watched = [coalesce_key] + ([idem_key] if idem_key else [])

        def decide(pipe: Any) -> Claim:
            if idem_key is not None:
                held = pipe.hmget(idem_key, "job_id", "fingerprint")
                if held[0] is not None and not self._exists(pipe, held[0].decode()):
                    held = [None, None]  # its job is gone: the key starts a new one
                if held[0] is not None:
                    if held[1].decode() != fp_digest:
                        raise InvalidRequestError(
                            "IdempotencyKey",
                            f"{idempotency_key!r} was used for a different request within "
                            f"the last {self._idem_ttl} s; use a new key for a new request",
                        )
                    pipe.multi()
                    return Claim(held[0].decode(), "idempotent")
            existing = pipe.get(coalesce_key)
            if existing is not None and self._still_answers(pipe, existing.decode()):
                pipe.multi()
                self._remember(pipe, idem_key, existing.decode(), fp_digest)
                pipe.incr(COALESCED_KEY)
                return Claim(existing.decode(), "coalesced")
            pipe.multi()
            pipe.set(coalesce_key, new_job_id, ex=self._coalesce_ttl)
            self._remember(pipe, idem_key, new_job_id, fp_digest)
            return Claim(new_job_id, "new")

        decided: list[Claim] = []

        def run(pipe: Any) -> None:  # redis-py retries it when a watched key changes
            decided[:] = [decide(pipe)]

        self._redis.transaction(run, *watched)
        return decided[0]

    def forget(
        self,
        claim: Claim,
        request_fingerprint: str,
        *,
        idempotency_key: str | None = None,
        principal: str | None = None,
    ) -> None:
        """Take back a ``new`` claim whose message could not be enqueued (only records
        that still name its job are removed).

        Raises:
            redis.RedisError: Redis cannot be reached.
        """
        if not claim.is_new:
            return
        coalesce_key = _COALESCE_PREFIX + self._digest(request_fingerprint)
        if self._redis.get(coalesce_key) == claim.job_id.encode():
            self._redis.delete(coalesce_key)
        if idempotency_key is not None:
            idem_key = self._idem_key(idempotency_key, principal)
            if self._redis.hget(idem_key, "job_id") == claim.job_id.encode():
                self._redis.delete(idem_key)

    @staticmethod
    def _exists(pipe: Any, job_id: str) -> bool:
        pipe.watch(job_key(job_id))
        return bool(pipe.exists(job_key(job_id)))

    def _still_answers(self, pipe: Any, job_id: str) -> bool:
        pipe.watch(job_key(job_id))
        state, updated_at = pipe.hmget(job_key(job_id), "state", "updated_at")
        if state is None:
            return False
        state = state.decode()
        if state in ACTIVE_STATES:
            return True
        if state != "succeeded" or self._succeeded_window <= 0 or updated_at is None:
            return False
        finished = datetime.fromisoformat(updated_at.decode().replace("Z", "+00:00"))
        return time.time() - finished.timestamp() <= self._succeeded_window

    def _remember(self, pipe: Any, idem_key: str | None, job_id: str, fp_digest: str) -> None:
        if idem_key is not None:
            pipe.hset(idem_key, mapping={"job_id": job_id, "fingerprint": fp_digest})
            pipe.expire(idem_key, self._idem_ttl)
