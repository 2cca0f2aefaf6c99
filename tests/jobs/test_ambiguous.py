"""Ambiguous calls end a job honestly: named, bounded, never ``skipped``.

Real Redis, a real Celery worker, boto3 over HTTP to the emulator, whose scripted
``slow:<ms>`` answers come after the read timeout (2 s in tests) and whose ``drop``
closes the connection after the request arrived: each such call may have delivered.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tasks import submit_resend, wait
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.redisserver import free_port
from worker.runtime import Runtime, set_runtime

pytestmark = [pytest.mark.usefixtures("celery_worker"), pytest.mark.timeout(120)]

OPERATION = "ResendConfirmationCode"
LATE = "slow:3000"  # one second past the tests' 2-s read timeout


def _user(pool: Any) -> str:
    name: str = pool.add_user(f"amb-{uuid.uuid4().hex[:10]}")
    return name


def _calls(emulator: EmulatorHandle) -> int:
    return int(emulator.stats()["totals"].get(OPERATION, 0))


def _use(make_settings: Any, **overrides: Any) -> None:
    """Run the worker's jobs with these settings (the ``runtime`` fixture resets it)."""
    set_runtime(Runtime.from_settings(make_settings(**overrides)))


def test_every_answer_late_ends_unconfirmed_after_two_calls(
    pool: Any, emulator: EmulatorHandle
) -> None:
    username = _user(pool)
    emulator.script(operation=OPERATION, username=username, errors=[f"{LATE}*6"])
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=60)
    assert document["state"] == "failed", document
    assert document["error"]["code"] == "CourierDeliveryUnconfirmed"
    assert document["error"]["message"].startswith("2 call(s) left, 2 without an answer")
    assert (document["attempts"], document["ambiguous"]) == (2, 2)
    assert _calls(emulator) == 2  # COURIER_AMBIGUOUS_RETRIES=1: one more call, not five


def test_one_late_answer_then_success_counts_it(pool: Any, emulator: EmulatorHandle) -> None:
    username = _user(pool)
    emulator.script(operation=OPERATION, username=username, errors=[LATE])
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=60)
    assert document["state"] == "succeeded", document
    assert (document["attempts"], document["ambiguous"]) == (2, 1)


def test_a_dropped_connection_is_ambiguous_and_bounds_what_follows(
    pool: Any, emulator: EmulatorHandle
) -> None:
    username = _user(pool)
    emulator.script(
        operation=OPERATION, username=username, errors=["drop", "InternalErrorException*4"]
    )
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=60)
    assert document["state"] == "failed", document
    # the drop may have delivered: one more call, then no more, and the job says so
    assert document["error"]["code"] == "CourierDeliveryUnconfirmed"
    assert "last: InternalErrorException" in document["error"]["message"]
    assert (document["attempts"], document["ambiguous"]) == (2, 1)
    assert _calls(emulator) == 2


def test_no_ambiguous_retries_sends_nothing_after_an_unanswered_call(
    pool: Any, emulator: EmulatorHandle, make_settings: Any
) -> None:
    _use(make_settings, ambiguous_retries=0)
    username = _user(pool)
    emulator.script(operation=OPERATION, username=username, errors=[f"{LATE}*3"])
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=60)
    assert document["state"] == "failed", document
    assert document["error"]["code"] == "CourierDeliveryUnconfirmed"
    assert (document["attempts"], document["ambiguous"]) == (1, 1)
    assert _calls(emulator) == 1


def test_own_retries_that_spend_the_cap_fail_with_the_last_answer(
    pool: Any, emulator: EmulatorHandle, make_settings: Any
) -> None:
    _use(make_settings, retry_max_attempts=8, retry_max_seconds=30.0)
    username = _user(pool)
    emulator.script(operation=OPERATION, username=username, errors=["InternalErrorException*8"])
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=60)
    # five calls spent the user's hour; the sixth was refused by the guard: the job says
    # what the five met, not that the user's hour was spent before it began
    assert document["state"] == "failed", document
    assert document["error"]["code"] == "InternalErrorException"
    assert (document["attempts"], document["ambiguous"]) == (5, 0)
    assert _calls(emulator) == 5


def test_a_refused_connection_sent_nothing_and_is_retried_freely(
    pool: Any, make_settings: Any
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    _use(make_settings, cognito_endpoint_url=closed, retry_max_attempts=4)
    document = wait(submit_resend(pool.client_id, "anyone"), timeout_seconds=60)
    assert document["state"] == "failed", document
    assert document["error"]["code"] == "CourierConnectionError"
    assert (document["attempts"], document["ambiguous"]) == (4, 0)
