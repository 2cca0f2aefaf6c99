"""The producer API at the door: validation, the queued document, sealed messages.

Messages go to a holding queue no worker consumes, so the test reads exactly what a
worker would receive from Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis

from tasks import job_status, jobs, submit_attribute_verification, submit_resend
from worker.contrib.emulator.pools import UserPool
from worker.errors import ConfigurationError, InvalidRequestError, JobNotFoundError
from worker.runtime import Runtime, set_runtime

HOLDING = "courier-test-holding"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImFsaWNlIn0.c2lnbmF0dXJlLXNlY3JldA"


@pytest.fixture
def holding(
    runtime: Runtime, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    """Send every job to a queue nobody consumes; yields a reader of its messages."""
    redis_client.delete(HOLDING)
    for task in (jobs.resend_confirmation_code, jobs.get_user_attribute_verification_code):
        real = task.apply_async

        def divert(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            kwargs["queue"] = HOLDING
            return _real(*args, **kwargs)

        monkeypatch.setattr(task, "apply_async", divert)
    messages: list[dict[str, Any]] = []
    yield messages
    redis_client.delete(HOLDING)


def _messages(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(HOLDING, 0, -1)]


def test_a_submitted_job_answers_queued_at_once(holding: Any, redis_client: redis.Redis) -> None:
    job_id = submit_resend("client1", "alice")
    document = job_status(job_id)
    assert document["state"] == "queued"
    assert document["id"] == job_id
    assert document["attempts"] == 0
    assert document["delivery"] is None
    assert document["error"] is None
    assert document["campaign_id"] is None
    assert document["created_at"] == document["updated_at"]
    assert redis_client.ttl(f"courier:job:{job_id}") > 6 * 24 * 3600
    assert len(_messages(redis_client)) == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: submit_resend("bad-client", "alice"), "ClientId"),
        (lambda: submit_resend("client1", ""), "Username"),
        (lambda: submit_resend("client1", "x" * 129), "Username"),
        (lambda: submit_resend("client1", "alice", secret_hash="no spaces!"), "SecretHash"),
        (lambda: submit_attribute_verification("not a token", "email"), "AccessToken"),
        (lambda: submit_attribute_verification(TOKEN, ""), "AttributeName"),
        (lambda: submit_attribute_verification(TOKEN, "x" * 40), "AttributeName"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_enqueued(
    holding: Any, redis_client: redis.Redis, call: Any, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        call()
    assert caught.value.field == field
    assert _messages(redis_client) == []
    assert list(redis_client.scan_iter(match="courier:job:*")) == []


def test_the_broker_message_carries_only_sealed_secrets(
    holding: Any, redis_client: redis.Redis, pool: UserPool
) -> None:
    token = pool.access_token(pool.add_user("alice", confirmed=True))
    submit_attribute_verification(token, "email")
    submit_resend("client1", "alice", secret_hash="c2VjcmV0aGFzaA==")
    raw = b"".join(cast("list[bytes]", redis_client.lrange(HOLDING, 0, -1)))
    assert token.encode() not in raw
    assert token.rsplit(".", 1)[1].encode() not in raw
    assert b"c2VjcmV0aGFzaA==" not in raw
    for message in _messages(redis_client):
        headers = message["headers"]
        assert "<sealed>" in headers["kwargsrepr"]
        assert headers["argsrepr"] == "()"


def test_without_a_seal_key_tokens_are_refused(
    holding: Any, redis_client: redis.Redis, make_settings: Any
) -> None:
    set_runtime(Runtime.from_settings(make_settings(seal_key=None)))
    with pytest.raises(ConfigurationError, match="COURIER_SEAL_KEY"):
        submit_attribute_verification(TOKEN, "email")
    assert _messages(redis_client) == []
    assert list(redis_client.scan_iter(match="courier:job:*")) == []


def test_unknown_job_is_a_clear_error(runtime: Runtime) -> None:
    with pytest.raises(JobNotFoundError, match="never submitted, or expired"):
        job_status("no-such-job")
