"""The status store: one job status document per job, kept in Redis for polling.

The document (DESIGN.md) is written at submit (``queued``) and at every transition:
``{"id", "operation", "state", "attempts", "delivery", "error", "campaign_id",
"created_at", "updated_at"}``. It lives in the hash ``courier:job:{id}`` for
COURIER_STATUS_TTL_SECONDS. A terminal state is final: a late or duplicate worker (at-least-
once delivery) cannot move a job out of it, because every transition is one Lua script
that checks the current state first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final, Literal, cast

import redis

from worker.errors import JobNotFoundError

__all__ = [
    "OPERATIONS",
    "STATES",
    "TERMINAL_STATES",
    "JobState",
    "StatusStore",
    "job_key",
    "now_iso",
]

JobState = Literal["queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled"]
STATES: Final = ("queued", "running", "retrying", "succeeded", "failed", "skipped", "cancelled")
TERMINAL_STATES: Final = frozenset({"succeeded", "failed", "skipped", "cancelled"})
OPERATIONS: Final = frozenset({"ResendConfirmationCode", "GetUserAttributeVerificationCode"})

_KEY_PREFIX = "courier:job:"

# KEYS[1] the job hash. ARGV: state, updated_at, ttl_seconds, then field/value pairs.
# Returns 1 when applied, 0 when the job is already terminal, -1 when it does not exist.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return -1 end
if current == 'succeeded' or current == 'failed' or current == 'skipped'
   or current == 'cancelled' then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[2])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


# KEYS[1] the job hash. ARGV: updated_at, ttl_seconds. Moves a non-terminal job to
# ``running`` and returns the state it had ('' when there is no such job); a terminal job is
# left alone. One round trip for what a worker needs at the start of a job.
_START = """
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return '' end
if current == 'succeeded' or current == 'failed' or current == 'skipped'
   or current == 'cancelled' then
  return current
end
redis.call('HSET', KEYS[1], 'state', 'running', 'updated_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return current
"""


def job_key(job_id: str) -> str:
    """The Redis key of a job's status hash."""
    return _KEY_PREFIX + job_id


def now_iso() -> str:
    """Now, UTC, ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StatusStore:
    """Reads and writes job status documents."""

    def __init__(self, client: redis.Redis, *, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl_seconds = ttl_seconds
        self._transition = client.register_script(_TRANSITION)
        self._start = client.register_script(_START)

    def create(
        self, job_id: str, operation: str, *, campaign_id: str | None = None
    ) -> dict[str, Any]:
        """Write the ``queued`` document for a new job and return it."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        stamp = now_iso()
        fields = {
            "id": job_id,
            "operation": operation,
            "state": "queued",
            "attempts": "0",
            "delivery": "null",
            "error": "null",
            "campaign_id": json.dumps(campaign_id),
            "created_at": stamp,
            "updated_at": stamp,
        }
        pipe = self._redis.pipeline()
        pipe.hset(job_key(job_id), mapping=cast("dict[Any, Any]", fields))
        pipe.expire(job_key(job_id), self._ttl_seconds)
        pipe.execute()
        return _document(fields)

    def delete(self, job_id: str) -> None:
        """Forget a job (used when its message could not be enqueued)."""
        self._redis.delete(job_key(job_id))

    def transition(
        self,
        job_id: str,
        state: JobState,
        *,
        attempts: int | None = None,
        delivery: dict[str, str] | None = None,
        error: dict[str, str] | None = None,
    ) -> bool:
        """Move a job to ``state``; False when it is already terminal (nothing changes).

        Raises:
            JobNotFoundError: no document exists (expired, or never submitted).
        """
        args: list[str] = [state, now_iso(), str(self._ttl_seconds)]
        if attempts is not None:
            args += ["attempts", str(attempts)]
        if delivery is not None:
            args += ["delivery", json.dumps(delivery)]
        if error is not None:
            args += ["error", json.dumps(error)]
        applied = int(self._transition(keys=[job_key(job_id)], args=args))
        if applied < 0:
            raise JobNotFoundError(f"no job {job_id!r}: never submitted, or expired")
        return applied == 1

    def start(self, job_id: str) -> str | None:
        """Mark a job ``running`` unless terminal; returns its previous state.

        None means no document exists (expired, or never submitted); a terminal state
        is returned unchanged and the job is left as it was.
        """
        previous = self._start(keys=[job_key(job_id)], args=[now_iso(), str(self._ttl_seconds)])
        text = previous.decode() if isinstance(previous, bytes) else str(previous)
        return text or None

    def get(self, job_id: str) -> dict[str, Any]:
        """The job status document.

        Raises:
            JobNotFoundError: no document exists (expired, or never submitted).
        """
        raw = cast("dict[bytes, bytes]", self._redis.hgetall(job_key(job_id)))
        if not raw:
            raise JobNotFoundError(f"no job {job_id!r}: never submitted, or expired")
        return _document({k.decode(): v.decode() for k, v in raw.items()})

    def is_terminal(self, job_id: str) -> bool:
        """True when the job has reached a terminal state."""
        state = cast("bytes | None", self._redis.hget(job_key(job_id), "state"))
        return state is not None and state.decode() in TERMINAL_STATES


def _document(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": fields["id"],
        "operation": fields["operation"],
        "state": fields["state"],
        "attempts": int(fields.get("attempts", "0")),
        "delivery": json.loads(fields.get("delivery", "null")),
        "error": json.loads(fields.get("error", "null")),
        "campaign_id": json.loads(fields.get("campaign_id", "null")),
        "created_at": fields["created_at"],
        "updated_at": fields["updated_at"],
    }
