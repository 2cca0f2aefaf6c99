"""The status store: one job status document per job, kept in Redis for polling.

The document (DESIGN.md) is written at submit (``queued``) and at every transition:
``{"id", "operation", "state", "attempts", "ambiguous", "redeliveries", "delivery",
"error", "campaign_id", "created_at", "updated_at"}`` (``ambiguous``: of the
``attempts``, the calls whose answer never came, :mod:`worker.delivery`). It lives in
the hash ``courier:job:{id}`` for COURIER_STATUS_TTL_SECONDS. A terminal state is final:
a late or duplicate worker (at-least-once delivery) cannot move a job out of it, because
every transition is one Lua script that checks the current state first.

The same hash holds what liveness needs (never shown in the document): ``payload``, the
task's keyword arguments with every secret sealed, so the reaper can send the job again;
``holder``, the token of the worker running it. A running job is also in the zset
``courier:jobs:leases`` (job id -> lease deadline, Redis time), renewed by the holder's
heartbeat (:mod:`worker.liveness.heartbeat`) and removed at the terminal transition; a deadline in
the past means the holder stopped beating and :meth:`StatusStore.reap` hands the job on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, Literal, TypedDict, Unpack, cast

import redis

from worker.broker.replicas import ReplicaWait, replica_wait
from worker.errors import JobNotFoundError
from worker.liveness.heartbeat import Lease
from worker.status_scripts import EXPIRED, REAP, RENEW, START, TRANSITION

__all__ = [
    "JOB_LEASES_KEY",
    "OPERATIONS",
    "REDELIVERED_KEY",
    "STATES",
    "TERMINAL_STATES",
    "Fields",
    "JobState",
    "Moved",
    "Started",
    "StatusStore",
    "job_key",
    "now_iso",
]

JobState = Literal["queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled"]
STATES: Final = ("queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled")
TERMINAL_STATES: Final = frozenset({"succeeded", "failed", "skipped", "cancelled"})
OPERATIONS: Final = frozenset({"ResendConfirmationCode", "GetUserAttributeVerificationCode"})

_KEY_PREFIX = "courier:job:"
REDELIVERED_KEY: Final = "courier:jobs:redelivered"
"""Counter of jobs sent again because a worker stopped mid-call (all jobs together)."""
JOB_LEASES_KEY: Final = "courier:jobs:leases"
"""Zset of running jobs: job id -> lease deadline (seconds since the epoch, Redis time)."""


class Fields(TypedDict, total=False):
    """What a transition may write beside the state (:meth:`StatusStore.move`)."""

    attempts: int | None
    delivery: dict[str, str] | None
    error: dict[str, str] | None


@dataclass(frozen=True)
class Moved:
    """What :meth:`StatusStore.move` did; ``created_at``: ISO 8601, None if unrecorded."""

    applied: bool
    created_at: str | None


@dataclass(frozen=True)
class Started:
    """What :meth:`StatusStore.start` found.

    Attributes:
        previous: the job's state before the call; None when no document exists.
        attempts: calls counted so far.
        held: another live worker runs the job (its lease has not run out): nothing was
            changed, ``previous`` is the state that worker left.
    """

    previous: JobState | None
    attempts: int
    held: bool = False


def job_key(job_id: str) -> str:
    """The Redis key of a job's status hash."""
    return _KEY_PREFIX + job_id


def now_iso() -> str:
    """Now, UTC, ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StatusStore:
    """Reads and writes job status documents."""

    def __init__(
        self, client: redis.Redis, *, ttl_seconds: int, replicas: ReplicaWait | None = None
    ) -> None:
        self.redis = client
        self._ttl_seconds = ttl_seconds
        self.replicas = replicas or replica_wait(client)
        """Submissions and terminal states wait for a replica (:mod:`worker.broker.replicas`)."""
        self._transition = client.register_script(TRANSITION)
        self._start = client.register_script(START)
        self._renew = client.register_script(RENEW)
        self._expired = client.register_script(EXPIRED)
        self._reap = client.register_script(REAP)

    def create(
        self,
        job_id: str,
        operation: str,
        *,
        campaign_id: str | None = None,
        payload: dict[str, Any] | None = None,
        principal: str | None = None,
    ) -> dict[str, Any]:
        """Write the ``queued`` document for a new job and return it.

        ``principal`` is the name of the HTTP front's API principal that asked for it
        (:mod:`worker.api.principals`; never a token), or None (Python API, CLI).

        ``payload`` is the task's keyword arguments, secrets already sealed: what the
        reaper sends again if the job's worker dies (a job without one is left to the
        visibility timeout).
        """
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        stamp = now_iso()
        fields = {
            "id": job_id,
            "operation": operation,
            "state": "queued",
            "attempts": "0",
            "ambiguous": "0",
            "redeliveries": "0",
            "delivery": "null",
            "error": "null",
            "campaign_id": json.dumps(campaign_id),
            "principal": json.dumps(principal),
            "created_at": stamp,
            "updated_at": stamp,
        }
        stored = dict(fields)
        if payload is not None:
            stored["payload"] = json.dumps(payload)
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), mapping=cast("dict[Any, Any]", stored))
        pipe.expire(job_key(job_id), self._ttl_seconds)
        pipe.execute()
        return _document(fields)

    def accepted(self) -> None:
        """Wait until a replica holds what was written for a submission (its document, and
        its message published through kombu before this call), so the job survives a
        failover; without replicas, nothing to do. A replica that does not answer in time
        is logged, not raised, and so is a Redis that fails at this point: the job is
        accepted either way (:mod:`worker.broker.replicas`).
        """
        self.replicas.after_write()

    def delete(self, job_id: str) -> None:
        """Forget a job (used when its message could not be enqueued)."""
        self.redis.delete(job_key(job_id))

    def transition(self, job_id: str, state: JobState, **fields: Unpack[Fields]) -> bool:
        """:meth:`move`'s ``applied``: False when the job is already terminal."""
        return self.move(job_id, state, **fields).applied

    def move(
        self,
        job_id: str,
        state: JobState,
        *,
        attempts: int | None = None,
        delivery: dict[str, str] | None = None,
        error: dict[str, str] | None = None,
    ) -> Moved:
        """Move a job to ``state`` unless it is terminal already (nothing changes then); a
        terminal state waits for a replica to hold it (WAIT, :mod:`worker.broker.replicas`).
        Answers the job's ``created_at`` from the same round trip (for its duration).

        Raises:
            JobNotFoundError: no document exists (expired, or never submitted).
        """
        args: list[str] = [state, now_iso(), str(self._ttl_seconds), job_id]
        if attempts is not None:
            args += ["attempts", str(attempts)]
        if delivery is not None:
            args += ["delivery", json.dumps(delivery)]
        if error is not None:
            args += ["error", json.dumps(error)]
        keys = [job_key(job_id), JOB_LEASES_KEY]
        if state in TERMINAL_STATES:  # an outcome: kept through a failover (WAIT)
            applied, created = self.replicas.script(self._transition, keys, args)
        else:
            applied, created = self._transition(keys=keys, args=args)
        if int(applied) < 0:
            raise JobNotFoundError(f"no job {job_id!r}: never submitted, or expired")
        text = created.decode() if isinstance(created, bytes) else str(created)
        return Moved(int(applied) == 1, text or None)

    def start(self, job_id: str, *, holder: str, lease_seconds: float) -> Started:
        """Mark a job ``running``, held by ``holder`` for ``lease_seconds``, unless it is
        terminal or another holder still beats for it; returns what was found.

        A job found ``running`` or ``retrying`` lost its holder (a worker stopped
        mid-call): its ``redeliveries`` and :data:`REDELIVERED_KEY` go up by one.
        """
        args = [now_iso(), str(self._ttl_seconds), job_id, holder, str(lease_seconds)]
        keys = [job_key(job_id), JOB_LEASES_KEY, REDELIVERED_KEY]
        raw = self._start(keys=keys, args=args)
        previous, attempts, held = (
            part.decode() if isinstance(part, bytes) else str(part) for part in raw
        )
        state = cast("JobState", previous) if previous else None
        return Started(state, int(attempts), held=held == "1")

    def count_attempt(self, job_id: str, by: int = 1) -> None:
        """Count one call about to leave (so a worker killed mid-call leaves it counted);
        ``by`` -1 uncounts one that did not leave after all (no permit in time)."""
        self.redis.hincrby(job_key(job_id), "attempts", by)

    def count_ambiguous(self, job_id: str) -> None:
        """Count one call that left and got no answer (it may have delivered a code)."""
        self.redis.hincrby(job_key(job_id), "ambiguous", 1)

    def renew(self, job_id: str, token: str, ttl_seconds: float, *, client: Any = None) -> Any:
        """Push the lease of ``job_id`` held by ``token`` to now + ``ttl_seconds``.

        Returns 1 when renewed, 0 when ``token`` no longer holds it, 2 when the job has
        ended (its finish released the lease); with ``client`` (a pipeline) the call is
        queued there.
        """
        return self._renew(
            keys=[job_key(job_id), JOB_LEASES_KEY],
            args=[job_id, token, ttl_seconds],
            client=client,
        )

    def lease(self, job_id: str, token: str, ttl_seconds: float) -> Lease:
        """The lease ``token`` holds on ``job_id``, for the process's heartbeat to renew."""
        return Lease(f"job {job_id}", partial(self.renew, job_id, token, ttl_seconds))

    def expired(self, *, most: int = 100) -> list[str]:
        """Ids of running jobs whose holder stopped beating (lease deadline passed)."""
        raw = cast("list[bytes]", self._expired(keys=[JOB_LEASES_KEY], args=[most]))
        return [item.decode() for item in raw]

    def reap(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """Take back ``job_id`` if its lease ran out: ``queued`` again, one more redelivery.

        Returns (operation, task keyword arguments) to send it again, or None when the
        lease is alive, the job is terminal or gone, or it has no stored payload.
        """
        keys = [job_key(job_id), JOB_LEASES_KEY, REDELIVERED_KEY]
        raw = self._reap(keys=keys, args=[job_id, now_iso()])
        if not raw:
            return None
        operation, payload = (part.decode() for part in raw)
        kwargs: dict[str, Any] = json.loads(payload)
        return operation, kwargs

    def get(self, job_id: str) -> dict[str, Any]:
        """The job status document.

        Raises:
            JobNotFoundError: no document exists (expired, or never submitted).
        """
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(job_key(job_id)))
        if not raw:
            raise JobNotFoundError(f"no job {job_id!r}: never submitted, or expired")
        return _document({k.decode(): v.decode() for k, v in raw.items()})


def _document(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": fields["id"],
        "operation": fields["operation"],
        "state": fields["state"],
        "attempts": int(fields.get("attempts", "0")),
        "ambiguous": int(fields.get("ambiguous", "0")),
        "redeliveries": int(fields.get("redeliveries", "0")),
        "delivery": json.loads(fields.get("delivery", "null")),
        "error": json.loads(fields.get("error", "null")),
        "campaign_id": json.loads(fields.get("campaign_id", "null")),
        "principal": json.loads(fields.get("principal", "null")),
        "created_at": fields["created_at"],
        "updated_at": fields["updated_at"],
    }
