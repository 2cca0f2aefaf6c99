"""The dead-letter key: what workers took off a queue but could not, or must not, run.

Workers never die of what they find on a queue and never drop it silently. Anything on the
``interactive``/``bulk`` list keys that is not a message for this app, and any job whose
status document is missing, is recorded here with one log line and a counter:

* ``courier:deadletter`` - a list, newest first, capped at :data:`CAPACITY` entries. Each
  entry is a JSON object ``{"reason", "detail", "queue", "at", "task", "job_id", "raw"}``:
  ``reason`` one of :data:`REASONS`, ``at`` Unix seconds, ``queue`` the list it came from
  (null when the bytes could not be decoded far enough to say), ``raw`` the item as found
  (text, or ``base64:`` + base64 for bytes that are not UTF-8), cut at :data:`RAW_LIMIT`
  characters. Real job messages carry only sealed secrets, so nothing here is in clear.
* ``courier:deadletter:counts`` - a hash ``{reason: n, "total": n}`` that only grows
  (operators and metrics read it; ``DEL`` resets it).

Neither key has a TTL: they are small (the list is capped) and must outlive the incident.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import redis

__all__ = [
    "CAPACITY",
    "COUNTS_KEY",
    "KEY",
    "RAW_LIMIT",
    "REASONS",
    "DeadLetters",
    "raw_text",
]

log = logging.getLogger(__name__)

KEY = "courier:deadletter"
COUNTS_KEY = "courier:deadletter:counts"
CAPACITY = 1000
RAW_LIMIT = 8192

REASONS = (
    "undecodable",  # the item is not UTF-8 JSON
    "not_a_message",  # JSON, but not a kombu message envelope
    "not_a_task",  # a kombu message, but not a Celery task message
    "unknown_task",  # a Celery task message naming a task this app does not have
    "invalid_task",  # a task message Celery refuses (bad arguments, content type, body)
    "no_status",  # a job message whose status document is missing (expired or evicted)
)


def raw_text(raw: Any) -> str | None:
    """``raw`` as stored: text as is, other bytes as ``base64:...``, objects as JSON."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = "base64:" + base64.b64encode(raw[: RAW_LIMIT * 3 // 4]).decode("ascii")
    elif isinstance(raw, str):
        text = raw
    else:
        text = json.dumps(raw, default=repr)
    return text[:RAW_LIMIT]


class DeadLetters:
    """Records rejected queue items in Redis (see the module docstring for the keys)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def record(
        self,
        reason: str,
        detail: str,
        *,
        queue: str | None = None,
        raw: Any = None,
        task: str | None = None,
        job_id: str | None = None,
    ) -> None:
        """Push one entry, bump its counters and log one ERROR line.

        Raises:
            ValueError: ``reason`` is not one of :data:`REASONS`.
            redis.RedisError: Redis failed (the caller must not acknowledge the item then).
        """
        if reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {reason!r}; expected one of {REASONS}")
        entry = {
            "reason": reason,
            "detail": detail,
            "queue": queue,
            "at": round(time.time(), 3),
            "task": task,
            "job_id": job_id,
            "raw": raw_text(raw),
        }
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(KEY, json.dumps(entry))
        pipe.ltrim(KEY, 0, CAPACITY - 1)
        pipe.hincrby(COUNTS_KEY, reason, 1)
        pipe.hincrby(COUNTS_KEY, "total", 1)
        pipe.execute()
        log.error(
            "dead-lettered %s from queue %s: %s (kept in %s)",
            reason,
            queue or "?",
            detail,
            KEY,
        )

    def counts(self) -> dict[str, int]:
        """``{reason: n, "total": n}`` so far (empty when nothing was dead-lettered)."""
        raw = self._redis.hgetall(COUNTS_KEY)
        return {_text(k): int(v) for k, v in raw.items()}

    def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first."""
        items = self._redis.lrange(KEY, 0, max(0, limit - 1))
        return [json.loads(item) for item in items]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
