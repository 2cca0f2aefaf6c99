"""The HTTP front: auth, validation and shapes with a TestClient; then end to end."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from pydantic import SecretStr
from typer.testing import CliRunner

from worker.api import create_app
from worker.api.server import CourierH11Protocol
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool
from worker.contrib.redisserver import PrivateRedis
from worker.errors import ConfigurationError
from worker.runtime import Runtime, set_runtime
from worker.settings import Settings
from worker.status import STATES, TERMINAL_STATES

with warnings.catch_warnings():
    # Starlette 1.x asks for its httpx fork (httpx2); the dev extras pin httpx, which it
    # still supports. Only this import's warning is silenced.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TOKEN = "test-token-2b7f0c9e4d1a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# A JWT-shaped token: what must never reach a log line or an error body.
ACCESS_TOKEN = "eyJraWQiOiJ0ZXN0In0.eyJzdWIiOiJzZWNyZXQtdXNlciJ9.c2lnbmF0dXJlLXNlY3JldA"
DOCUMENT_KEYS = {
    "id",
    "operation",
    "state",
    "attempts",
    "ambiguous",
    "redeliveries",
    "delivery",
    "error",
    "campaign_id",
    "principal",
    "created_at",
    "updated_at",
}


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The suite's settings (test Redis, emulator) with the test token and a spare."""
    return settings.model_copy(update={"api_tokens": [SecretStr("spare-token"), SecretStr(TOKEN)]})


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """A TestClient on a fresh app; no runtime installed (see ``front``)."""
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def front(client: TestClient, runtime: Runtime) -> TestClient:
    """The client with this test's runtime installed: submits reach the test Redis."""
    return client


def _server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the server side logged: the front, tasks, Celery (not the test's HTTP client)."""
    return "\n".join(
        f"{record.name} {record.getMessage()}"
        for record in caplog.records
        if record.name.split(".")[0] in ("worker", "tasks", "celery", "uvicorn", "fastapi")
    )


def _query(**params: str) -> str:
    return "/?" + urlencode(params)


def _job_keys(client: redis.Redis) -> list[bytes]:
    return list(client.scan_iter(match="courier:job:*"))


# --- authorization ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["none", "basic", "empty-bearer"],
)
def test_missing_bearer_token_answers_401(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get(_query(Action="ResendConfirmationCode"), headers=headers)
    assert response.status_code == 401
    assert response.json()["__type"] == "MissingAuthenticationToken"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_wrong_bearer_token_answers_401(client: TestClient) -> None:
    for path in ("/", "/jobs/abc", "/campaigns/abc"):
        response = client.get(path, headers={"Authorization": f"Bearer {TOKEN}x"})
        assert response.status_code == 401, path
        assert response.json()["__type"] == "UnrecognizedClientException"
    response = client.post("/", json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_every_configured_token_is_accepted(client: TestClient) -> None:
    for token in ("spare-token", TOKEN):
        response = client.get("/jobs/unknown-job", headers={"Authorization": f"bearer {token}"})
        assert response.status_code == 404


def test_metrics_and_healthz_need_no_token(front: TestClient) -> None:
    assert front.get("/healthz").json() == {
        "status": "ok",
        "redis": "ok",
        "token_operations": True,
        "missing": [],
    }
    metrics = front.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


def test_front_refuses_to_start_without_a_token(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="COURIER_API_TOKENS"):
        create_app(settings.model_copy(update={"api_tokens": []}))


# --- validation: 400, AWS-style, nothing enqueued ----------------------------------------


@pytest.mark.parametrize(
    ("params", "kind", "message"),
    [
        ({}, "MissingAction", "Action: is required"),
        ({"Action": "AdminDeleteUser"}, "InvalidAction", "Action: must be one of"),
        (
            {"Action": "ResendConfirmationCode", "ClientId": "abc"},
            "MissingParameter",
            "Username: is required",
        ),
        (
            {"Action": "ResendConfirmationCode", "ClientId": "a b", "Username": "bob"},
            "InvalidParameterException",
            "ClientId: must match",
        ),
        (
            {"Action": "ResendConfirmationCode", "ClientId": "c" * 129, "Username": "bob"},
            "InvalidParameterException",
            "ClientId: is 129 characters long",
        ),
        (
            {"Action": "ResendConfirmationCode", "ClientId": "abc", "Username": "bob b"},
            "InvalidParameterException",
            "Username: character 4",
        ),
        (
            {
                "Action": "ResendConfirmationCode",
                "ClientId": "abc",
                "Username": "bob",
                "SecretHash": "not base64!",
            },
            "InvalidParameterException",
            "SecretHash: must be base64",
        ),
        (
            {
                "Action": "ResendConfirmationCode",
                "ClientId": "abc",
                "Username": "b",
                "Pool": "x",
            },
            "InvalidParameterException",
            "Pool: not a parameter of ResendConfirmationCode",
        ),
        (
            {
                "Action": "ResendConfirmationCode",
                "ClientId": "abc",
                "Username": "bob",
                "UserContextData": "x",
            },
            "InvalidParameterException",
            "UserContextData: not supported",
        ),
        (
            {"Action": "GetUserAttributeVerificationCode", "AttributeName": "email"},
            "MissingParameter",
            "AccessToken: is required",
        ),
        (
            {
                "Action": "GetUserAttributeVerificationCode",
                "AccessToken": ACCESS_TOKEN,
                "AttributeName": "e" * 33,
            },
            "InvalidParameterException",
            "AttributeName: is 33 characters long",
        ),
    ],
    ids=[
        "no-action",
        "unknown-action",
        "missing-username",
        "bad-client-id",
        "long-client-id",
        "space-in-username",
        "bad-secret-hash",
        "unknown-parameter",
        "unsupported-parameter",
        "missing-token",
        "long-attribute",
    ],
)
def test_bad_input_answers_400_and_enqueues_nothing(
    front: TestClient,
    redis_client: redis.Redis,
    params: dict[str, str],
    kind: str,
    message: str,
) -> None:
    queued_before = redis_client.llen("interactive")
    for response in (
        front.get(_query(**params), headers=AUTH),
        front.post("/", json=params, headers=AUTH),
    ):
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["__type"] == kind
        assert body["message"].startswith(message), body
        assert ACCESS_TOKEN not in response.text
    assert _job_keys(redis_client) == []
    assert redis_client.llen("interactive") <= queued_before


def test_bad_access_token_is_never_echoed(front: TestClient) -> None:
    token = ACCESS_TOKEN + " with spaces"
    response = front.post(
        "/",
        json={
            "Action": "GetUserAttributeVerificationCode",
            "AccessToken": token,
            "AttributeName": "email",
        },
        headers=AUTH,
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("AccessToken: must match")
    assert "eyJ" not in response.text
    # A token pasted as a parameter name is not echoed either.
    stray = front.get(f"/?Action=ResendConfirmationCode&{ACCESS_TOKEN}=1", headers=AUTH)
    assert stray.status_code == 400
    assert "eyJ" not in stray.text


def test_json_body_errors(front: TestClient) -> None:
    not_json = front.post("/", content=b"{", headers=AUTH)
    assert not_json.json()["__type"] == "SerializationException"
    not_object = front.post("/", json=["ResendConfirmationCode"], headers=AUTH)
    assert not_object.json()["__type"] == "SerializationException"
    wrong_type = front.post(
        "/",
        json={"Action": "ResendConfirmationCode", "ClientId": 5, "Username": "bob"},
        headers=AUTH,
    )
    assert wrong_type.json() == {
        "__type": "InvalidParameterException",
        "message": "ClientId: must be a string, got int",
    }
    huge = front.post("/", content=b" " * (16 * 1024 * 1024 + 1), headers=AUTH)
    assert huge.status_code == 413
    assert huge.json()["__type"] == "RequestEntityTooLarge"
    non_string_action = front.post("/", json={"Action": ["x"]}, headers=AUTH)
    assert non_string_action.json()["__type"] == "InvalidAction"
    bad_metadata = front.post(
        "/",
        json={
            "Action": "ResendConfirmationCode",
            "ClientId": "abc",
            "Username": "bob",
            "ClientMetadata": {"k": 1},
        },
        headers=AUTH,
    )
    assert bad_metadata.json()["message"].startswith("ClientMetadata:")


def test_post_keeps_parameters_out_of_the_query_string(front: TestClient) -> None:
    response = front.post(
        "/?AccessToken=" + ACCESS_TOKEN,
        json={"Action": "GetUserAttributeVerificationCode", "AttributeName": "email"},
        headers=AUTH,
    )
    assert response.status_code == 400
    assert response.json()["message"] == "AccessToken: POST takes its parameters in the JSON body"


def test_repeated_query_parameter_is_refused(front: TestClient) -> None:
    response = front.get(
        "/?Action=ResendConfirmationCode&ClientId=abc&Username=a&Username=b", headers=AUTH
    )
    assert response.json() == {
        "__type": "InvalidParameterException",
        "message": "Username: given more than once",
    }


def test_unknown_route_and_method_are_aws_style(front: TestClient) -> None:
    assert front.get("/nowhere", headers=AUTH).json()["__type"] == "NotFound"
    assert front.delete("/", headers=AUTH).json()["__type"] == "MethodNotAllowed"


# --- accepted requests: 202, the status document, Location ------------------------------


def test_get_resend_answers_202_with_the_status_document(front: TestClient) -> None:
    response = front.get(
        _query(Action="ResendConfirmationCode", ClientId="abc123", Username="alice"), headers=AUTH
    )
    assert response.status_code == 202, response.text
    document = response.json()
    assert set(document) == DOCUMENT_KEYS
    assert document["operation"] == "ResendConfirmationCode"
    assert document["state"] in STATES
    assert response.headers["location"] == f"/jobs/{document['id']}"
    again = front.get(response.headers["location"], headers=AUTH)
    assert again.status_code == 200
    assert again.json()["id"] == document["id"]


def test_post_verification_answers_202_and_seals_the_token(
    front: TestClient, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture, pool: UserPool
) -> None:
    caplog.set_level(logging.DEBUG)
    access_token = pool.access_token(pool.add_user("sealed-user", confirmed=True))
    response = front.post(
        "/",
        json={
            "Action": "GetUserAttributeVerificationCode",
            "AccessToken": access_token,
            "AttributeName": "email",
            "ClientMetadata": {"source": "test"},
        },
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    assert response.json()["operation"] == "GetUserAttributeVerificationCode"
    assert access_token not in response.text
    for key in redis_client.scan_iter(match="*"):
        kind = redis_client.type(key)
        if kind == b"list":
            values = redis_client.lrange(key, 0, -1)
        elif kind == b"hash":
            values = list(redis_client.hgetall(key).values())
        elif kind == b"string":
            values = [redis_client.get(key) or b""]
        else:
            continue
        assert all(access_token.encode() not in value for value in values), key
    assert access_token not in _server_log(caplog)


def test_get_form_never_logs_the_query_string(
    front: TestClient, caplog: pytest.LogCaptureFixture, pool: UserPool
) -> None:
    caplog.set_level(logging.DEBUG)
    access_token = pool.access_token(pool.add_user("query-user", confirmed=True))
    response = front.get(
        _query(
            Action="GetUserAttributeVerificationCode",
            AccessToken=access_token,
            AttributeName="email",
        ),
        headers=AUTH,
    )
    assert response.status_code == 202
    assert access_token not in _server_log(caplog)
    request_lines = [r.getMessage() for r in caplog.records if r.name == "worker.api"]
    assert any(line.startswith("GET / 202") for line in request_lines), request_lines


def test_job_routes(front: TestClient) -> None:
    missing = front.get("/jobs/0f6f0c4e-0000-4000-8000-000000000000", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["__type"] == "JobNotFound"
    malformed = front.get("/jobs/not%20an%20id", headers=AUTH)
    assert malformed.status_code == 400
    assert malformed.json()["__type"] == "InvalidParameterException"


def test_metrics_count_requests_by_action_and_status(front: TestClient) -> None:
    front.get(_query(Action="ResendConfirmationCode", ClientId="abc", Username="bob"), headers=AUTH)
    front.get(_query(Action="ResendConfirmationCode", ClientId="a b", Username="b"), headers=AUTH)
    text = front.get("/metrics").text
    assert 'courier_api_requests_total{action="ResendConfirmationCode",status="202"} 1.0' in text
    assert 'courier_api_requests_total{action="ResendConfirmationCode",status="400"} 1.0' in text
    assert "courier_api_request_duration_seconds_bucket" in text


def test_metrics_show_the_shared_limiter_state(front: TestClient) -> None:
    text = front.get("/metrics").text
    assert 'courier_limit_budget_per_second{category="UserResourceRead",region=' in text
    assert 'courier_limit_rate_per_second{category="UserResourceRead",region=' in text
    assert 'courier_limit_throttles_total{category="UserList",region=' in text
    assert "courier_jobs_redelivered_total" in text


def test_healthz_answers_503_when_redis_is_down(client: TestClient, api_settings: Settings) -> None:
    dead = api_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    set_runtime(Runtime.from_settings(dead))
    try:
        response = client.get("/healthz")
    finally:
        set_runtime(None)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "redis": "unreachable",
        "token_operations": True,
        "missing": [],
    }


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        ({"Usernames": ["a"]}, "MissingParameter", "ClientId: is required"),
        ({"ClientId": "abc"}, "InvalidParameterCombination", "give exactly one of"),
        (
            {"ClientId": "abc", "Usernames": ["a"], "UserPoolId": "us-east-1_abc"},
            "InvalidParameterCombination",
            "give exactly one of",
        ),
        (
            {"ClientId": "abc", "Usernames": ["a"], "Filter": "x"},
            "InvalidParameterCombination",
            "Filter: only with UserPoolId",
        ),
        ({"ClientId": "abc", "Usernames": "a"}, "InvalidParameterException", "Usernames: must"),
        ({"ClientId": "abc", "UserPoolId": "../etc"}, "InvalidParameterException", "UserPoolId:"),
        ({"ClientId": "abc", "File": "/etc/passwd"}, "InvalidParameterException", "File: not a"),
        (
            {"ClientId": "abc", "Usernames": ["a"], "DryRun": "yes"},
            "InvalidParameterException",
            "DryRun: must be true or false",
        ),
        (
            {"ClientId": "a b", "Usernames": ["a"]},
            "InvalidParameterException",
            "ClientId: must match",
        ),
        (
            {"ClientId": "abc", "Usernames": ["a"], "Weight": 0},
            "InvalidParameterException",
            "Weight: campaign weight must be 0.01 to 100",
        ),
        (
            {"ClientId": "abc", "Usernames": ["a"], "Weight": "2"},
            "InvalidParameterException",
            "Weight: must be a number 0.01 to 100",
        ),
        (
            {"ClientId": "abc", "Usernames": ["a"], "Weight": True},
            "InvalidParameterException",
            "Weight: must be a number 0.01 to 100",
        ),
    ],
    ids=[
        "no-client",
        "no-source",
        "two-sources",
        "filter-without-pool",
        "usernames-not-list",
        "bad-pool-id",
        "server-path",
        "dry-run-not-bool",
        "bad-client-id",
        "weight-zero",
        "weight-string",
        "weight-bool",
    ],
)
def test_bad_campaign_answers_400(
    front: TestClient, redis_client: redis.Redis, body: dict[str, Any], kind: str, message: str
) -> None:
    response = front.post("/campaigns", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == kind
    assert response.json()["message"].startswith(message)
    assert list(redis_client.scan_iter(match="courier:campaign:*")) == []


def test_campaign_dry_run_answers_200_with_rejects(front: TestClient) -> None:
    response = front.post(
        "/campaigns",
        json={"ClientId": "abc", "Usernames": ["alice", "bob", "has space"], "DryRun": True},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["id"] is None
    assert document["total"] == 2
    assert [reject["line"] for reject in document["rejects"]] == [3]
    assert "location" not in response.headers


def test_campaign_start_answers_202_and_status_follows(front: TestClient) -> None:
    response = front.post(
        "/campaigns",
        json={"ClientId": "abc", "Usernames": ["alice", "bob"], "Name": "api test", "Weight": 3},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    document = response.json()
    assert document["name"] == "api test"
    assert document["weight"] == 3.0
    assert response.headers["location"] == f"/campaigns/{document['id']}"
    status = front.get(response.headers["location"], headers=AUTH)
    assert status.status_code == 200
    assert status.json()["id"] == document["id"]
    assert status.json()["total"] == 2
    missing = front.get("/campaigns/0123456789abcdef", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["__type"] == "CampaignNotFound"


# --- the CLI ---------------------------------------------------------------------------


def _run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, dict[str, Any]]:
    import typer
    import uvicorn

    from worker.cli.api import api

    served: dict[str, Any] = {}

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        config = server.config
        served.update(
            app=config.app,
            host=config.host,
            port=config.port,
            access_log=config.access_log,
            protocol=config.http,
        )

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr("worker.runtime.set_runtime", lambda runtime: None)
    cli = typer.Typer()
    cli.command()(api)
    cli.command("unused")(lambda: None)  # keep `api` a subcommand, as under `courier`
    return CliRunner().invoke(cli, ["api", *args]), served


def test_cli_refuses_to_start_without_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_API_TOKENS", raising=False)
    result, served = _run_cli(monkeypatch)
    assert isinstance(result.exception, ConfigurationError)
    assert "--dev" in str(result.exception)
    assert served == {}


def test_cli_dev_run_prints_a_generated_token_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURIER_API_TOKENS", raising=False)
    result, served = _run_cli(monkeypatch, "--dev", "--port", "9999")
    assert result.exit_code == 0, result.output
    assert served["access_log"] is False
    assert issubclass(served["protocol"], CourierH11Protocol)  # head timeout, JSON 400s
    assert (served["host"], served["port"]) == ("127.0.0.1", 9999)
    assert result.stdout == ""
    token = result.stderr.strip().rsplit(" ", 1)[-1]
    assert len(token) >= 40
    with TestClient(served["app"]) as client:
        ok = client.get("/jobs/some-job", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code in (404, 503)  # past the door: authorized


def test_cli_uses_configured_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_API_TOKENS", "one, two")
    result, served = _run_cli(monkeypatch, "--dev", "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert served["host"] == "0.0.0.0"


# --- end to end: real worker, real Redis, the emulator over HTTP -------------------------


def _poll(front: TestClient, location: str, *, timeout_seconds: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        response = front.get(location, headers=AUTH)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        if document["state"] in TERMINAL_STATES or time.monotonic() > deadline:
            return document
        time.sleep(0.05)


def test_end_to_end_resend_through_the_front(
    front: TestClient, celery_worker: Any, emulator: EmulatorHandle
) -> None:
    pool = emulator.make_pool("api-e2e")
    client_id = pool.client_id
    pool.add_user("carol", email="carol@example.com")
    accepted = front.get(
        _query(Action="ResendConfirmationCode", ClientId=client_id, Username="carol"),
        headers=AUTH,
    )
    assert accepted.status_code == 202, accepted.text
    document = _poll(front, accepted.headers["location"])
    assert document["state"] == "succeeded", document
    assert document["attempts"] == 1
    assert document["delivery"]["DeliveryMedium"] == "EMAIL"


def test_end_to_end_attribute_verification_by_post(
    front: TestClient,
    celery_worker: Any,
    emulator: EmulatorHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pool = emulator.make_pool("api-e2e")
    pool.add_user("dave", email="dave@example.com", confirmed=True)
    token = pool.access_token("dave")
    accepted = front.post(
        "/",
        json={
            "Action": "GetUserAttributeVerificationCode",
            "AccessToken": token,
            "AttributeName": "email",
        },
        headers=AUTH,
    )
    assert accepted.status_code == 202, accepted.text
    document = _poll(front, accepted.headers["location"])
    assert document["state"] == "succeeded", document
    assert document["delivery"]["AttributeName"] == "email"
    assert token not in _server_log(caplog)


def test_settings_api_tokens_are_secret(api_settings: Settings) -> None:
    assert TOKEN not in repr(api_settings)
    assert all(isinstance(token, SecretStr) for token in api_settings.api_tokens)


def test_a_full_redis_answers_503_naming_the_cause(
    client: TestClient, api_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with PrivateRedis() as server:
        live = api_settings.model_copy(update={"redis_url": server.url})
        set_runtime(Runtime.from_settings(live))
        admin = server.client()
        try:
            assert client.get("/healthz").status_code == 200  # ends an earlier test's episode
            caplog.clear()
            used = int(admin.info("memory")["used_memory"])
            admin.config_set("maxmemory", str(used // 2))
            with caplog.at_level(logging.INFO, logger="worker.api.app"):
                health = client.get("/healthz")
                probes = [client.get("/healthz").status_code for _ in range(4)]
                submit = client.post(
                    "/",
                    json={"Action": "ResendConfirmationCode", "ClientId": "abc", "Username": "u1"},
                    headers=AUTH,
                )
                keys = admin.keys("courier:jobs:*")
                admin.config_set("maxmemory", "0")
                back = [client.get("/healthz").status_code for _ in range(3)]
        finally:
            set_runtime(None)
            admin.close()
    # One WARNING line when the episode begins and one when it ends, however many probes.
    episode = [r.getMessage() for r in caplog.records if r.getMessage().startswith("healthz:")]
    assert probes == [503] * 4
    assert back == [200] * 3
    assert len(episode) == 2, episode
    assert "not accepting writes" in episode[0]
    assert "accepts writes again" in episode[1]
    assert health.status_code == 503
    assert health.json()["redis"] == "not accepting writes"
    assert "Redis is full (maxmemory)" in health.json()["reason"]
    assert submit.status_code == 503
    assert submit.json()["message"].startswith("Redis is full (maxmemory)")
    assert keys == []  # nothing half written


def test_a_replica_is_not_ready(client: TestClient, api_settings: Settings) -> None:
    with PrivateRedis() as primary, PrivateRedis(replica_of=primary) as replica:
        set_runtime(
            Runtime.from_settings(api_settings.model_copy(update={"redis_url": replica.url}))
        )
        try:
            health = client.get("/healthz")
        finally:
            set_runtime(None)
    assert health.status_code == 503
    assert health.json()["redis"] == "not accepting writes"
    assert "READONLY" in health.json()["reason"]
