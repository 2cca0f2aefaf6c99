"""Only this app's tasks run: Celery's built-ins and refused arguments are dead-lettered.

A real Celery worker (in-process, threads pool, the project's consumer) on the test Redis
receives messages sent through Celery itself (``send_task``), as anyone able to write to
the queues could send them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from worker.app import INTERACTIVE_QUEUE, app
from worker.broker.deadletter import DeadLetters
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool
from worker.runtime import Runtime

pytestmark = pytest.mark.usefixtures("celery_worker")


def _dead_letter(runtime: Runtime, task_id: str, *, timeout_seconds: float = 15) -> dict[str, Any]:
    letters = DeadLetters(runtime.redis)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for entry in letters.entries(limit=200):
            if entry.get("job_id") == task_id:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"message {task_id} was not dead-lettered within {timeout_seconds} s")


def _send(name: str, *, args: Any = (), kwargs: Any = None) -> str:
    task_id = str(uuid.uuid4())
    app.send_task(name, args=args, kwargs=kwargs or {}, task_id=task_id, queue=INTERACTIVE_QUEUE)
    return task_id


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("celery.backend_cleanup", ()),
        ("celery.accumulate", (1, 2)),
        ("celery.group", ([], 0, [])),
        ("celery.chord_unlock", ("g", [])),
        ("celery.chunks", ("courier.resend_confirmation_code", [], 1)),
        ("celery.chain", ([],)),
        ("evil.steal", ()),
    ],
)
def test_a_task_that_is_not_the_projects_is_dead_lettered_unknown_task(
    runtime: Runtime, name: str, args: Any
) -> None:
    entry = _dead_letter(runtime, _send(name, args=args))
    assert entry["reason"] == "unknown_task"
    assert entry["task"] == name


def test_starmap_cannot_smuggle_a_project_task_past_the_door(
    runtime: Runtime, pool: UserPool, emulator: EmulatorHandle
) -> None:
    victim = pool.add_user("starmap-victim")
    signature = app.signature("courier.resend_confirmation_code")
    task_id = _send(
        "celery.starmap",
        args=(dict(signature), [("job-x", pool.client_id, victim)]),
    )
    assert _dead_letter(runtime, task_id)["reason"] == "unknown_task"
    time.sleep(0.5)  # had it run, the call would have reached the emulator by now
    sent = [d for d in emulator.deliveries(victim) if d["operation"] == "ResendConfirmationCode"]
    assert sent == []


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("courier.resend_confirmation_code", {"nope": 1}),
        ("courier.resend_confirmation_code", {"job_id": "j"}),  # client_id, username missing
        ("courier.get_user_attribute_verification_code", {"job_id": "j", "extra": "x"}),
    ],
)
def test_arguments_the_signature_refuses_are_dead_lettered_invalid_task(
    runtime: Runtime, name: str, kwargs: dict[str, Any]
) -> None:
    entry = _dead_letter(runtime, _send(name, kwargs=kwargs))
    assert entry["reason"] == "invalid_task"
    assert "arguments refused" in entry["detail"]
