"""Answers about the pool or the client pause a campaign (the table in worker.errors).

Real Redis, a real Celery worker, boto3 over HTTP to the emulator, whose scripted
answers stand for a broken Lambda trigger and whose pools do not know a mistyped client.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tasks.campaigns import campaign_status, cancel_campaign, resume_campaign, start_campaign
from tests.support.campaigns import wait_for
from tests.support.synthetic import CLIENT_ID, usernames
from worker.contrib.emulator import EmulatorHandle
from worker.delivery import ResendRequest
from worker.errors import TRIGGER_RUN_USERS, Concern, answer_scope
from worker.runtime import Runtime

pytestmark = pytest.mark.usefixtures("celery_worker")

OPERATION = ResendRequest.operation
LAMBDA_TIMEOUT = "UnexpectedLambdaException:Socket timeout while invoking Lambda function."


def _data(names: list[str]) -> bytes:
    return ("\n".join(names) + "\n").encode()


def _calls(emulator: EmulatorHandle) -> int:
    return int(emulator.stats()["totals"].get(OPERATION, 0))


def _guard_calls(runtime: Runtime, client_id: str, name: str) -> int:
    request = ResendRequest(client_id, name)
    return runtime.guard.count(OPERATION, request.user_key(runtime.clients))


def test_a_failing_trigger_pauses_after_a_few_users_and_resume_finishes(
    emulator: EmulatorHandle, runtime: Runtime
) -> None:
    names = usernames(3001, 40)
    emulator.script(operation=OPERATION, errors=[f"{LAMBDA_TIMEOUT}*200"])
    doc = start_campaign(CLIENT_ID, data=_data(names), file_format="text")
    paused = wait_for(campaign_status, doc["id"], states=("paused",), timeout=60)
    calls = _calls(emulator)
    assert calls <= 10, calls  # the target; the table pauses after 3 users
    assert calls >= TRIGGER_RUN_USERS
    why = paused["pause_reason"]
    assert why["code"] == "UnexpectedLambdaException"
    assert "Socket timeout while invoking Lambda function." in why["message"]
    counts = paused["counts"]
    assert (counts["failed"], counts["skipped"], counts["running"]) == (0, 0, 0)
    assert counts["queued"] + counts["deferred"] == 40  # every row goes back
    # the rows that met the trigger spent none of their users' five hourly sends
    assert [_guard_calls(runtime, CLIENT_ID, name) for name in names] == [0] * 40
    emulator.reset()  # the trigger is fixed
    resume_campaign(doc["id"])
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["counts"]["succeeded"] == 40, final
    assert final["pause_reason"] is None
    sent = Counter(d["username"] for d in emulator.deliveries())
    assert set(sent) == set(names)
    assert max(sent.values()) == 1


def test_a_mistyped_client_id_pauses_at_the_first_call(
    emulator: EmulatorHandle, runtime: Runtime
) -> None:
    names = usernames(3101, 60)
    mistyped = CLIENT_ID[:-1] + "9"
    doc = start_campaign(mistyped, data=_data(names), file_format="text")
    paused = wait_for(campaign_status, doc["id"], states=("paused",), timeout=60)
    assert _calls(emulator) == 1
    assert paused["pause_reason"]["code"] == "ResourceNotFoundException"
    counts = paused["counts"]
    assert (counts["failed"], counts["skipped"]) == (0, 0)
    assert counts["queued"] + counts["deferred"] == 60
    assert _guard_calls(runtime, mistyped, names[0]) == 0
    cancel_campaign(doc["id"])


def test_one_user_refused_by_a_trigger_is_that_users_answer(
    emulator: EmulatorHandle,
) -> None:
    names = usernames(3201, 12)
    # a pre sign-up / custom message trigger may refuse one user on purpose
    emulator.script(
        operation=OPERATION,
        username=names[4],
        errors=["UserLambdaValidationException:PreSignUp failed with error not allowed."],
    )
    doc = start_campaign(CLIENT_ID, data=_data(names), file_format="text")
    final = wait_for(campaign_status, doc["id"], timeout=60)
    assert final["pause_reason"] is None
    assert (final["counts"]["succeeded"], final["counts"]["failed"]) == (11, 1)


@pytest.mark.parametrize(
    ("code", "message", "concern", "after"),
    [
        ("ResourceNotFoundException", "User pool client x does not exist.", Concern.CLIENT, 1),
        ("InvalidSmsRoleTrustRelationshipException", "", Concern.POOL, 1),
        ("InvalidEmailRoleAccessPolicyException", "", Concern.POOL, 1),
        ("LimitExceededException", "Exceeded daily email limit for the", Concern.ACCOUNT, 1),
        ("CodeDeliveryFailureException", "SMS spending limit reached", Concern.ACCOUNT, 1),
        ("InvalidLambdaResponseException", "", Concern.POOL, TRIGGER_RUN_USERS),
        ("NotAuthorizedException", "Unable to verify secret hash for client c", Concern.CLIENT, 3),
        ("LimitExceededException", "Attempt limit exceeded", Concern.USER_HOUR, None),
        ("NotAuthorizedException", "Access Token has expired", Concern.USER, None),
        ("UserNotFoundException", "Username/client id combination not found.", Concern.USER, None),
        ("CourierDeliveryUnconfirmed", "1 call(s) left, 1 without an answer", Concern.USER, None),
    ],
)  # fmt: skip
def test_the_table_names_whom_an_answer_is_about(
    code: str, message: str, concern: Concern, after: int | None
) -> None:
    scope = answer_scope(code, message)
    assert (scope.concern, scope.pause_after_users) == (concern, after)
