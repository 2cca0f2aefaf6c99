"""Poison never kills: garbage on the queue keys goes to the dead-letter key.

Two real ``courier worker`` processes consume a private Redis. Items of every kind that
is not a message for this app are pushed straight onto the ``interactive`` and ``bulk``
list keys (kombu's Redis transport: LPUSH onto the queue's list, BRPOP by the worker):
bytes that are not UTF-8, text that is not JSON, JSON that is no kombu envelope, a
broken envelope, a kombu message that is no Celery task, a task this app does not have,
and a task message in a content type the app refuses. Then: no worker exits, each item is
in ``courier:deadletter`` with its reason and queue, the counters add up, each worker
logged one line per item and no traceback, and a real job sent afterwards succeeds.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.brokerprocs import produce, worker_env, workers
from tests.support.figures import record
from tests.support.polling import wait_until
from worker.broker.deadletter import COUNTS_KEY, KEY, DeadLetters
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import PrivateRedis
from worker.status import StatusStore

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]


def envelope(
    body: bytes, *, queue: str, headers: dict[str, Any], content_type: str = "application/json"
) -> bytes:
    """A message as kombu's Redis transport stores it (``Channel._put``)."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": content_type,
            "headers": headers,
            "properties": {
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
                "delivery_info": {"exchange": queue, "routing_key": queue},
                "delivery_mode": 2,
                "priority": 0,
            },
        }
    ).encode()


def _task_headers(name: str) -> dict[str, Any]:
    task_id = str(uuid.uuid4())
    return {"lang": "py", "task": name, "id": task_id, "root_id": task_id, "retries": 0}


POISON: list[tuple[str, str, bytes]] = [
    ("interactive", "undecodable", b"\xff\xfe\x00garbage"),
    ("bulk", "undecodable", b"not json {"),
    ("interactive", "not_a_message", b'{"hello": "world"}'),
    ("bulk", "not_a_message", b"[1, 2, 3]"),
    ("interactive", "not_a_message", b'{"properties": {}, "body": "eA=="}'),
    (
        "bulk",
        "not_a_task",
        envelope(b'{"just": "data"}', queue="bulk", headers={}),
    ),
    (
        "interactive",
        "unknown_task",
        envelope(b"[[], {}, {}]", queue="interactive", headers=_task_headers("evil.steal")),
    ),
    (  # a Celery built-in: never run from the queue (worker/broker/admission.py)
        "bulk",
        "unknown_task",
        envelope(b"[[], {}, {}]", queue="bulk", headers=_task_headers("celery.backend_cleanup")),
    ),
    (  # a project task with an argument its signature refuses
        "interactive",
        "invalid_task",
        envelope(
            b'[[], {"nope": 1}, {}]',
            queue="interactive",
            headers=_task_headers("courier.resend_confirmation_code"),
        ),
    ),
    (
        "interactive",
        "invalid_task",
        envelope(
            b"\x80\x04garbage",
            queue="interactive",
            headers=_task_headers("courier.resend_confirmation_code"),
            content_type="application/x-python-serialize",
        ),
    ),
]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of this test's own."""
    with PrivateRedis() as server:
        yield server


def test_garbage_on_both_queues_is_dead_lettered_and_workers_keep_serving(
    private_redis: PrivateRedis,
    synthetic_emulator: EmulatorHandle,
    tmp_path: Path,
) -> None:
    env = worker_env(private_redis.url, synthetic_emulator.endpoint_url)
    client = redis.Redis.from_url(private_redis.url, socket_timeout=5)
    with workers(2, env, tmp_path) as pair:
        for queue, _, raw in POISON:
            client.lpush(queue, raw)
        wait_until(
            lambda: client.llen(KEY) >= len(POISON),
            timeout_seconds=20,
            what="every poison item in the dead-letter key",
        )
        (job_id,) = produce(env, ["user0000001"])
        statuses = StatusStore(client, ttl_seconds=3600)
        wait_until(
            lambda: statuses.get(job_id)["state"] == "succeeded",
            timeout_seconds=20,
            what="a real job after the poison",
        )
        alive = [w.alive for w in pair]
        logs = [w.log() for w in pair]
    record("garbage on both queues", "poison items pushed", len(POISON))
    record("garbage on both queues", "worker exits", alive.count(False), target="0", met=all(alive))
    assert alive == [True, True]
    entries = DeadLetters(client).entries(limit=100)
    assert len(entries) == len(POISON)
    found = Counter((e["queue"], e["reason"]) for e in entries)
    expected = Counter(
        (None if reason == "undecodable" else queue, reason) for queue, reason, _ in POISON
    )
    assert found == expected
    counts = DeadLetters(client).counts()
    assert counts["total"] == len(POISON)
    assert sum(v for k, v in counts.items() if k != "total") == len(POISON)
    assert client.exists(COUNTS_KEY)
    assert all(e["raw"] for e in entries)
    assert client.llen("interactive") == 0
    assert client.llen("bulk") == 0
    assert client.hlen("unacked") == 0
    joined = "".join(logs)
    assert joined.count("dead-lettered") == len(POISON), joined[-4000:]
    assert "Traceback" not in joined, joined[-4000:]
    assert "Unrecoverable error" not in joined
