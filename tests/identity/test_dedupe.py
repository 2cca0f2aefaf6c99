"""Duplicates coalesce and idempotency keys answer with their job: real Redis, a real
worker, boto3 over HTTP to the emulator."""

from __future__ import annotations

import json
import time
from typing import Any, cast

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from tasks import job_status, submit_attribute_verification, submit_resend, wait
from tasks.jobs import resend_confirmation_code
from tests.support.pools import Pools
from worker.app import INTERACTIVE_QUEUE, app
from worker.cli import app as cli_app
from worker.contrib.emulator import EmulatorHandle
from worker.dedupe import COALESCED_KEY
from worker.errors import BrokerUnavailable, InvalidRequestError
from worker.observe.cluster_metrics import CourierCollector
from worker.runtime import Runtime, set_runtime
from worker.status import job_key

OP = "ResendConfirmationCode"
runner = CliRunner()


def _resends(emulator: EmulatorHandle, username: str) -> int:
    return sum(
        1
        for d in emulator.deliveries()
        if d["operation"] == OP and str(d.get("username", "")).lower() == username.lower()
    )


def _coalesced(client: redis.Redis) -> int:
    return int(client.get(COALESCED_KEY) or 0)


def test_three_identical_submissions_before_any_worker_runs_make_one_job_and_one_call(
    paused_worker: None,
    celery_worker_session: Any,
    runtime: Runtime,
    pools: Pools,
    emulator: EmulatorHandle,
) -> None:
    erin = pools.add_user(pools.web, "erin")
    before = _coalesced(runtime.redis)
    ids = [submit_resend(pools.web, name) for name in (erin, erin, "ERIN")]
    assert len(set(ids)) == 1  # ERIN is erin in a case-insensitive pool
    assert job_status(ids[0])["state"] == "queued"
    assert _coalesced(runtime.redis) == before + 2
    hostname = [celery_worker_session.hostname]
    app.control.add_consumer(INTERACTIVE_QUEUE, destination=hostname, reply=True)
    assert wait(ids[0], timeout_seconds=30)["state"] == "succeeded"
    time.sleep(0.5)  # a second message, if one had been sent, would be run by now
    assert _resends(emulator, "erin") == 1


@pytest.mark.usefixtures("celery_worker")
def test_a_running_job_answers_and_a_finished_one_does_not(
    runtime: Runtime, pools: Pools, emulator: EmulatorHandle
) -> None:
    frank = pools.add_user(pools.web, "frank")
    emulator.configure(latency={"fixed_ms": 800.0})
    try:
        first = submit_resend(pools.web, frank)
        deadline = time.monotonic() + 10
        while job_status(first)["state"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job_status(first)["state"] == "running"
        assert submit_resend(pools.web, frank) == first
        assert wait(first, timeout_seconds=30)["state"] == "succeeded"
    finally:
        emulator.configure(latency={"fixed_ms": 0.0})
    second = submit_resend(pools.web, frank)  # COURIER_COALESCE_SUCCEEDED_SECONDS is 0
    assert second != first
    assert wait(second, timeout_seconds=30)["state"] == "succeeded"
    assert _resends(emulator, "frank") == 2


@pytest.mark.usefixtures("paused_worker")
def test_what_makes_requests_different(runtime: Runtime, pools: Pools) -> None:
    base = submit_resend(pools.web, "gina")
    assert submit_resend(pools.web, "GINA") == base
    assert submit_resend(pools.mobile, "gina") != base  # another client: another request
    assert submit_resend(pools.web, "gina", client_metadata={"k": "v"}) != base
    # another credential never shares a job: a wrong SecretHash cannot absorb the right one
    hashed = submit_resend(pools.web, "gina", secret_hash="c2VjcmV0")
    assert hashed != base
    assert submit_resend(pools.web, "gina", secret_hash="c2VjcmV0") == hashed
    assert submit_resend(pools.web, "gina", secret_hash="b3RoZXI=") not in (base, hashed)
    # another principal (the HTTP front's) never receives this caller's job
    assert submit_resend(pools.web, "gina", principal="signup-service") != base
    exact = submit_resend(pools.exact, "gina")
    assert submit_resend(pools.exact, "Gina") != exact  # declared case-sensitive


@pytest.mark.usefixtures("celery_worker")
def test_coalescing_extends_to_recent_successes_when_asked(
    make_settings: Any, redis_client: redis.Redis, pools: Pools, emulator: EmulatorHandle
) -> None:
    built = Runtime.from_settings(make_settings(coalesce_succeeded_seconds=30))
    set_runtime(built)
    try:
        hank = pools.add_user(pools.exact, "hank")
        first = submit_resend(pools.exact, hank)
        assert wait(first, timeout_seconds=30)["state"] == "succeeded"
        assert submit_resend(pools.exact, hank) == first
    finally:
        set_runtime(None)
    assert _resends(emulator, "hank") == 1


@pytest.mark.usefixtures("celery_worker")
def test_an_idempotency_key_answers_its_job_finished_or_not(
    runtime: Runtime, pools: Pools, emulator: EmulatorHandle
) -> None:
    ida = pools.add_user(pools.web, "ida")
    first = submit_resend(pools.web, ida, idempotency_key="order-17/resend")
    assert wait(first, timeout_seconds=30)["state"] == "succeeded"
    assert submit_resend(pools.web, ida, idempotency_key="order-17/resend") == first
    with pytest.raises(InvalidRequestError, match="IdempotencyKey: 'order-17/resend' was used"):
        submit_resend(pools.web, "someone-else", idempotency_key="order-17/resend")
    assert _resends(emulator, "ida") == 1
    # stored hashed, for 24 h
    names = [key.decode() for key in runtime.redis.scan_iter("courier:idem:*")]
    assert names
    assert not any("order-17" in name for name in names)
    for name in names:
        assert "order-17" not in json.dumps(
            {
                k.decode(): v.decode()
                for k, v in cast("dict[bytes, bytes]", runtime.redis.hgetall(name)).items()
            }
        )
        assert 86_000 < runtime.redis.ttl(name) <= 86_400


@pytest.mark.usefixtures("paused_worker")
def test_idempotency_keys_are_per_principal(runtime: Runtime, pools: Pools) -> None:
    mine = submit_resend(pools.web, "olga", idempotency_key="shared-key", principal="a")
    assert submit_resend(pools.web, "olga", idempotency_key="shared-key", principal="a") == mine
    # the same key from another principal neither answers mine nor reveals that it exists
    theirs = submit_resend(pools.web, "pia", idempotency_key="shared-key", principal="b")
    assert theirs != mine
    assert job_status(mine)["principal"] == "a"
    assert job_status(theirs)["principal"] == "b"


@pytest.mark.usefixtures("paused_worker")
def test_an_idempotency_key_whose_job_is_gone_starts_a_new_job(
    runtime: Runtime, pools: Pools
) -> None:
    first = submit_resend(pools.web, "quinn", idempotency_key="gone-1")
    runtime.redis.delete(job_key(first))
    second = submit_resend(pools.web, "quinn", idempotency_key="gone-1")
    assert second != first
    assert job_status(second)["state"] == "queued"  # never JobNotFound for ever
    assert submit_resend(pools.web, "quinn", idempotency_key="gone-1") == second


@pytest.mark.usefixtures("paused_worker")
def test_bad_idempotency_keys_are_refused_and_nothing_is_enqueued(runtime: Runtime) -> None:
    queued = runtime.redis.llen(INTERACTIVE_QUEUE)
    for bad, message in [("", "1-255 characters"), ("x" * 256, "1-255"), ("é", "ASCII")]:
        with pytest.raises(InvalidRequestError, match=f"IdempotencyKey: .*{message}"):
            submit_resend("client", "user", idempotency_key=bad)
    assert runtime.redis.llen(INTERACTIVE_QUEUE) == queued


@pytest.mark.usefixtures("paused_worker")
def test_a_message_that_cannot_be_sent_leaves_no_record_behind(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise redis.ConnectionError("broker gone")

    monkeypatch.setattr(resend_confirmation_code, "apply_async", broken)
    with pytest.raises(BrokerUnavailable, match="broker gone"):
        submit_resend("client", "jack", idempotency_key="k-jack")
    monkeypatch.undo()
    job = submit_resend("client", "jack", idempotency_key="k-jack")
    assert job_status(job)["state"] == "queued"  # a new job, not the lost one


@pytest.mark.usefixtures("paused_worker")
def test_attribute_verification_coalesces_per_token(runtime: Runtime, pools: Pools) -> None:
    kate = pools.add_user(pools.web, "kate")
    pools.folded.cognito.admin_confirm_sign_up(UserPoolId=pools.folded.pool_id, Username=kate)

    def token() -> str:
        return pools.folded.access_token(kate, client_id=pools.web)

    same = token()
    first = submit_attribute_verification(same, "email")
    assert submit_attribute_verification(same, "email") == first
    assert submit_attribute_verification(same, "phone_number") != first
    # another token of the same user is another credential: a job of its own
    assert submit_attribute_verification(token(), "email") != first


@pytest.mark.usefixtures("paused_worker")
def test_cli_idempotency_key_and_the_coalesced_metric(runtime: Runtime, pools: Pools) -> None:
    def resend(*extra: str) -> tuple[int, Any]:
        result = runner.invoke(
            cli_app, ["resend", "--client-id", pools.web, "--username", "lena", "--json", *extra]
        )
        return result.exit_code, json.loads(result.stdout)

    code, first = resend("--idempotency-key", "cli-1")
    assert code == 0
    assert resend("--idempotency-key", "cli-1")[1]["id"] == first["id"]
    other = ["resend", "--client-id", pools.web, "--username", "max", "--json"]
    result = runner.invoke(cli_app, [*other, "--idempotency-key", "cli-1"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "InvalidRequestError"
    assert "'cli-1'" in error["message"]
    registry = CollectorRegistry()
    registry.register(CourierCollector(lambda: runtime))
    scraped = generate_latest(registry).decode()
    assert f"courier_jobs_coalesced_total {float(_coalesced(runtime.redis))}" in scraped
