"""The job path end to end: real Redis, a real Celery worker, boto3 over HTTP to the emulator."""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

import pytest
import redis

import tasks
from tasks import job_status, submit_attribute_verification, submit_resend, wait
from tests.support.runtime import default_limiter
from worker.contrib.emulator import EmulatorHandle
from worker.ratelimit import Category
from worker.runtime import Runtime

pytestmark = pytest.mark.usefixtures("celery_worker")


def _name() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def _codes_sent(emulator: EmulatorHandle, username: str) -> list[dict[str, Any]]:
    """Deliveries made by the two code operations (SignUp's own code is left out)."""
    wanted = {"ResendConfirmationCode", "GetUserAttributeVerificationCode"}
    return [d for d in emulator.deliveries(username=username) if d["operation"] in wanted]


def test_resend_succeeds_and_the_emulator_records_the_delivery(
    pool: Any, emulator: EmulatorHandle
) -> None:
    username = pool.add_user(_name())
    job_id = submit_resend(pool.client_id, username)
    document = wait(job_id, timeout_seconds=20)
    assert document["state"] == "succeeded", repr(document["error"])
    assert document["attempts"] == 1
    assert document["operation"] == "ResendConfirmationCode"
    assert document["delivery"]["DeliveryMedium"] == "EMAIL"
    assert document["delivery"]["AttributeName"] == "email"
    assert document["error"] is None
    deliveries = _codes_sent(emulator, username)
    assert len(deliveries) == 1
    assert deliveries[0]["destination"] == f"{username}@example.com"
    assert document["delivery"]["Destination"] == "u***@e***"  # masked, as Cognito answers


def test_attribute_verification_succeeds(pool: Any, emulator: EmulatorHandle) -> None:
    username = pool.add_user(_name(), phone_number="+15555550123", confirmed=True)
    token = pool.access_token(username)
    email_job = submit_attribute_verification(token, "email")
    phone_job = submit_attribute_verification(token, "phone_number")
    email = wait(email_job, timeout_seconds=20)
    phone = wait(phone_job, timeout_seconds=20)
    assert email["state"] == "succeeded", email
    assert email["operation"] == "GetUserAttributeVerificationCode"
    assert email["delivery"]["DeliveryMedium"] == "EMAIL"
    assert phone["state"] == "succeeded", phone
    assert phone["delivery"]["DeliveryMedium"] == "SMS"
    assert len(_codes_sent(emulator, username)) == 2


def test_secret_hash_is_computed_from_the_secrets_file(
    pool: Any, make_settings: Any, redis_client: redis.Redis, emulator: EmulatorHandle
) -> None:
    from worker.runtime import set_runtime

    set_runtime(
        Runtime.from_settings(
            make_settings(client_secrets={pool.secret_client_id: pool.client_secret})
        )
    )
    username = pool.add_user(_name())
    document = wait(submit_resend(pool.secret_client_id, username), timeout_seconds=20)
    assert document["state"] == "succeeded", repr(document["error"])
    assert len(_codes_sent(emulator, username)) == 1


def test_client_with_secret_and_no_secret_hash_fails_not_authorized(pool: Any) -> None:
    username = pool.add_user(_name())
    document = wait(submit_resend(pool.secret_client_id, username), timeout_seconds=20)
    assert document["state"] == "failed"
    assert document["error"]["code"] == "NotAuthorizedException"


def test_permanent_error_fails_after_exactly_one_call(pool: Any, emulator: EmulatorHandle) -> None:
    document = wait(submit_resend(pool.client_id, "nobody-" + _name()), timeout_seconds=20)
    assert document["state"] == "failed"
    assert document["error"]["code"] == "UserNotFoundException"
    assert document["attempts"] == 1
    assert emulator.stats()["totals"]["ResendConfirmationCode"] == 1


def test_already_confirmed_user_fails_with_cognitos_code(pool: Any) -> None:
    username = pool.add_user(_name(), confirmed=True)
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=20)
    assert document["state"] == "failed"
    assert document["error"] == {
        "code": "InvalidParameterException",
        "message": "User is already confirmed.",
    }


def test_transient_errors_are_retried_until_success(
    pool: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    username = pool.add_user(_name())
    emulator.script(
        operation="ResendConfirmationCode",
        username=username,
        errors=["InternalErrorException", "500", "drop"],
    )
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=30)
    assert document["state"] == "succeeded", repr(document["error"])
    assert document["attempts"] == 4
    assert len(_codes_sent(emulator, username)) == 1


def test_throttled_call_waits_through_the_limiter_and_slows_everyone(
    pool: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    username = pool.add_user(_name())
    emulator.script(
        operation="ResendConfirmationCode", username=username, errors=["TooManyRequestsException"]
    )
    before = default_limiter(runtime).state(Category.USER_RESOURCE_READ)
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=30)
    after = default_limiter(runtime).state(Category.USER_RESOURCE_READ)
    assert document["state"] == "succeeded", repr(document["error"])
    assert document["attempts"] == 2
    assert after.throttles == before.throttles + 1
    assert after.rate_per_second < before.rate_per_second


def test_limit_exceeded_from_cognito_is_not_retried(pool: Any, emulator: EmulatorHandle) -> None:
    username = pool.add_user(_name())
    emulator.script(
        operation="ResendConfirmationCode", username=username, errors=["LimitExceededException"]
    )
    document = wait(submit_resend(pool.client_id, username), timeout_seconds=20)
    assert document["state"] == "failed"
    assert document["error"]["code"] == "LimitExceededException"
    assert document["attempts"] == 1


def test_the_per_user_guard_skips_the_sixth_call_before_cognito_sees_it(
    pool: Any, emulator: EmulatorHandle
) -> None:
    username = pool.add_user(_name())
    documents = [
        wait(submit_resend(pool.client_id, username), timeout_seconds=20) for _ in range(6)
    ]
    assert [d["state"] for d in documents] == ["succeeded"] * 5 + ["skipped"]
    assert documents[5]["error"]["code"] == "CourierUserCapReached"
    assert documents[5]["attempts"] == 0
    assert emulator.stats()["totals"]["ResendConfirmationCode"] == 5


def test_retrying_state_is_visible_while_backing_off(
    pool: Any, emulator: EmulatorHandle, make_settings: Any, redis_client: redis.Redis
) -> None:
    from worker.runtime import set_runtime

    set_runtime(Runtime.from_settings(make_settings(retry_base_seconds=0.5, retry_cap_seconds=0.5)))
    username = pool.add_user(_name())
    emulator.script(
        operation="ResendConfirmationCode",
        username=username,
        errors=["InternalErrorException"] * 3,
    )
    job_id = submit_resend(pool.client_id, username)
    seen: set[str] = set()
    document = job_status(job_id)
    while document["state"] not in ("succeeded", "failed"):
        seen.add(document["state"])
        if document["state"] == "retrying":
            assert document["attempts"] >= 1
        document = job_status(job_id)
    assert "retrying" in seen
    assert document["state"] == "succeeded"


def test_no_access_token_in_redis_events_or_logs(
    pool: Any, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    username = pool.add_user(_name(), confirmed=True)
    token = pool.access_token(username)
    signature = token.rsplit(".", 1)[-1]
    pubsub = redis_client.pubsub()  # type: ignore[no-untyped-call] # redis-py leaves it bare
    pubsub.psubscribe("*")  # Celery events travel over Redis pub/sub
    job_ids = [submit_attribute_verification(token, "email") for _ in range(3)]
    job_ids.append(submit_attribute_verification(token, "no_such_attribute"))
    for job_id in job_ids:
        wait(job_id, timeout_seconds=20)
    published: list[bytes] = []
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        if isinstance(message.get("data"), bytes):
            published.append(message["data"])
    pubsub.close()
    assert published, "no Celery events were seen"
    for needle in (token.encode(), signature.encode()):
        assert not any(needle in data for data in published)
        assert needle not in "\n".join(r.getMessage() for r in caplog.records).encode()
        for key in redis_client.scan_iter(count=1000):
            assert needle not in key
            assert needle not in _dump(redis_client, key), key


def _dump(client: redis.Redis, key: bytes) -> bytes:
    """Every byte a key holds (the test client answers bytes: no decode_responses)."""
    kind = client.type(key)
    if kind == b"string":
        return cast("bytes | None", client.get(key)) or b""
    if kind == b"hash":
        fields = cast("dict[bytes, bytes]", client.hgetall(key))
        return b"|".join(k + b"=" + v for k, v in fields.items())
    if kind == b"list":
        return b"|".join(cast("list[bytes]", client.lrange(key, 0, -1)))
    if kind == b"set":
        return b"|".join(cast("set[bytes]", client.smembers(key)))
    if kind == b"zset":
        scored = cast("list[tuple[bytes, float]]", client.zrange(key, 0, -1, withscores=True))
        return b"|".join(m for m, _ in scored)
    if kind == b"stream":
        return repr(client.xrange(key)).encode()
    return b""


def test_public_face_is_complete() -> None:
    exported = set(tasks.__all__)
    public = {name for name in vars(tasks) if not name.startswith("_")}
    modules = {"jobs", "producer", "campaigns"}
    assert public - modules <= exported
    for name in exported:
        assert callable(getattr(tasks, name)), name


def test_a_redelivered_job_is_sent_again_and_counted(
    pool: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    from tasks.jobs import resend_confirmation_code
    from worker.status import REDELIVERED_KEY

    username = pool.add_user(_name())
    runtime.statuses.create("crashed-job", "ResendConfirmationCode")
    runtime.statuses.start("crashed-job", holder="dead-worker", lease_seconds=15)
    runtime.statuses.count_attempt("crashed-job")  # its call left, then the worker died
    # while the dead worker's lease runs, a second copy of the message sends nothing
    assert resend_confirmation_code.run("crashed-job", pool.client_id, username) == "running"
    assert len(_codes_sent(emulator, username)) == 0
    runtime.redis.zadd("courier:jobs:leases", {"crashed-job": 0})  # it stopped beating
    assert resend_confirmation_code.run("crashed-job", pool.client_id, username) == "succeeded"
    assert int(runtime.redis.get(REDELIVERED_KEY) or 0) == 1
    assert len(_codes_sent(emulator, username)) == 1
    document = job_status("crashed-job")
    assert document["redeliveries"] == 1
    assert document["attempts"] == 2  # the dead worker's call and this one


def test_the_reaper_sends_a_dead_workers_job_again(
    pool: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    from worker.app import app
    from worker.liveness.reaper import reap_jobs

    username = pool.add_user(_name())
    job_id = f"reaped-{uuid.uuid4().hex[:8]}"
    payload = {
        "job_id": job_id,
        "client_id": pool.client_id,
        "username": username,
        "sealed_secret_hash": None,
        "client_metadata": None,
    }
    runtime.statuses.create(job_id, "ResendConfirmationCode", payload=payload)
    runtime.statuses.start(job_id, holder="dead-worker", lease_seconds=15)
    assert reap_jobs(runtime.statuses, app) == 0  # its lease is still alive
    runtime.redis.zadd("courier:jobs:leases", {job_id: 0})  # it stopped beating
    assert reap_jobs(runtime.statuses, app) == 1
    document = wait(job_id, timeout_seconds=20)
    assert document["state"] == "succeeded", document
    assert document["redeliveries"] == 1
    assert len(_codes_sent(emulator, username)) == 1


def test_a_duplicate_of_a_finished_job_sends_nothing(
    pool: Any, emulator: EmulatorHandle, runtime: Runtime
) -> None:
    from tasks.jobs import resend_confirmation_code

    username = pool.add_user(_name())
    job_id = submit_resend(pool.client_id, username)
    assert wait(job_id, timeout_seconds=20)["state"] == "succeeded"
    assert resend_confirmation_code.run(job_id, pool.client_id, username) == "succeeded"
    assert len(_codes_sent(emulator, username)) == 1
    assert job_status(job_id)["attempts"] == 1


def test_an_unopenable_sealed_token_fails_the_job_clearly(runtime: Runtime) -> None:
    from tasks.jobs import get_user_attribute_verification_code

    runtime.statuses.create("bad-seal", "GetUserAttributeVerificationCode")
    from worker.errors import JobFailedError

    # The task fails (a Celery FAILURE in Flower) after recording the failure.
    with pytest.raises(JobFailedError, match="CourierSealError") as raised:
        get_user_attribute_verification_code.run("bad-seal", "not-sealed", "email")
    assert raised.value.code == "CourierSealError"
    document = job_status("bad-seal")
    assert document["state"] == "failed"
    assert document["error"]["code"] == "CourierSealError"
