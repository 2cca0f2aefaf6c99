"""Forged AccessTokens are refused at the door: nothing enqueued, no guard slot, no Region.

The attack of issue 19: unsigned JWTs claiming ``username=victim`` used to take the
victim's guard slots (the victim then got 1 code of 5) and forged ``iss`` values created
Regions. Each forgery here goes through the live front; then the victim's own token is
sent and its job must succeed with one code delivered.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tasks import submit_attribute_verification, wait
from tests.support.security import TOKENS, Stack
from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool
from worker.delivery import VerifyRequest
from worker.errors import JobFailedError, NotAuthorizedError, TokenKeysUnavailableError
from worker.guard.base import GUARD_KEY_PREFIX
from worker.identity.clients import ClientRegistry
from worker.identity.tokens import REFRESH_COOLDOWN_SECONDS, TokenVerifier
from worker.jobs import run_job
from worker.ratelimit.regional import REGIONS_KEY
from worker.runtime import Runtime, set_runtime
from worker.status import StatusStore, job_key

VERIFY = "GetUserAttributeVerificationCode"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")

    def load(part: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return loaded

    return load(header), load(payload)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _sign_in(pool: UserPool, username: str) -> dict[str, str]:
    result = pool.cognito.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": pool.password},
    )["AuthenticationResult"]
    return {"AccessToken": result["AccessToken"], "IdToken": result["IdToken"]}


def _expired_token(pool: UserPool, emulator: EmulatorHandle, username: str) -> str:
    emulator.configure(access_token_lifetime_seconds=0.5)
    try:
        token = _sign_in(pool, username)["AccessToken"]
    finally:
        emulator.configure(access_token_lifetime_seconds=3600.0)
    time.sleep(1.0)
    return token


def forgeries(pool: UserPool, emulator: EmulatorHandle, victim: str) -> dict[str, str]:
    """Every kind of forged or unusable token, each claiming to be ``victim``."""
    real = _sign_in(pool, victim)
    header, claims = _parts(real["AccessToken"])
    other_pool = emulator.make_pool("unlisted")  # a pool the registry does not list
    other_pool.add_user(victim, confirmed=True)
    fake_iss = "https://cognito-idp.zz-fake-1.amazonaws.com/zz-fake-1_Forged"
    return {
        "unsigned": f"{_b64(header)}.{_b64(claims)}.Zm9yZ2Vk",
        "alg none": jwt.encode(claims, "", algorithm="none"),
        "HS256 with the kid": jwt.encode(
            claims, "x" * 32, algorithm="HS256", headers={"kid": header["kid"]}
        ),
        "wrong key": jwt.encode(claims, _KEY, algorithm="RS256", headers={"kid": header["kid"]}),
        "expired": _expired_token(pool, emulator, victim),
        "ID token": real["IdToken"],
        "other pool": other_pool.access_token(victim),
        "forged iss": jwt.encode(
            {**claims, "iss": fake_iss}, _KEY, algorithm="RS256", headers={"kid": "k1"}
        ),
        "forged kid": jwt.encode(
            claims, _KEY, algorithm="RS256", headers={"kid": "not-a-kid-of-the-pool"}
        ),
        "not a JWT": "a.b.c",
    }


def _job_count(stack: Stack) -> int:
    return sum(1 for _ in stack.redis.scan_iter(match=job_key("*"), count=1000))


def _guard_keys(stack: Stack) -> int:
    return sum(1 for _ in stack.redis.scan_iter(match=GUARD_KEY_PREFIX + "*", count=1000))


def test_forged_tokens_are_refused_and_the_victims_own_job_succeeds(
    stack: Stack, emulator: EmulatorHandle
) -> None:
    victim = stack.pool.add_user(f"victim-{uuid.uuid4().hex[:8]}", confirmed=True)
    forged = forgeries(stack.pool, emulator, victim)
    jobs, guards = _job_count(stack), _guard_keys(stack)
    regions = stack.redis.smembers(REGIONS_KEY)
    with stack.client(TOKENS["verifier"]) as http:
        for kind, token in forged.items():
            for _ in range(2):  # the attack of the issue repeats; so does the refusal
                answer = http.post(
                    "/", json={"Action": VERIFY, "AccessToken": token, "AttributeName": "email"}
                )
                assert answer.status_code == 400, (kind, answer.text)
                body = answer.json()
                assert body["__type"] == "NotAuthorizedException", (kind, body)
                assert token not in answer.text
        assert _job_count(stack) == jobs  # nothing enqueued
        assert _guard_keys(stack) == guards  # no guard slot taken
        assert stack.redis.smembers(REGIONS_KEY) == regions  # no Region created
        assert "zz-fake" not in http.get("/metrics").text
        real = _sign_in(stack.pool, victim)["AccessToken"]
        answer = http.post(
            "/", json={"Action": VERIFY, "AccessToken": real, "AttributeName": "email"}
        )
        assert answer.status_code == 202, answer.text
    document = wait(answer.json()["id"], timeout_seconds=30)
    assert document["state"] == "succeeded", document
    sent = [d for d in emulator.deliveries(victim) if d["operation"] == VERIFY]
    assert len(sent) == 1


def test_the_python_api_refuses_them_too_naming_what_failed(
    runtime: Runtime, pool: UserPool, emulator: EmulatorHandle
) -> None:
    victim = pool.add_user(f"api-victim-{uuid.uuid4().hex[:8]}", confirmed=True)
    expected = {
        "unsigned": "signature that does not verify",
        "alg none": "not signed with RS256",
        "wrong key": "signature that does not verify",
        "expired": "has expired",
        "ID token": "not an access token",
        "other pool": "app client this deployment does not list",
        "forged iss": "another user pool",
        "forged kid": "signing key (kid) its user pool does not have",
        "not a JWT": "not a JWT",
    }
    forged = forgeries(pool, emulator, victim)
    for kind, fragment in expected.items():
        with pytest.raises(NotAuthorizedError, match=re.escape(fragment)) as caught:
            submit_attribute_verification(forged[kind], "email")
        assert caught.value.code == "NotAuthorizedException"
        assert forged[kind] not in str(caught.value)


def test_unreachable_keys_are_a_retryable_refusal_and_nothing_is_enqueued(
    make_settings: Any, settings: Any, redis_client: Any, pool: UserPool
) -> None:
    """JWKS on a closed loopback port: 503 with Retry-After at the front, a
    TokenKeysUnavailableError from the Python API; no job, no guard slot."""
    from tests.support.front import serve_in_thread
    from tests.support.security import bearer
    from worker.contrib.redisserver import free_port

    token = pool.access_token(pool.add_user(f"jwks-{uuid.uuid4().hex[:8]}", confirmed=True))
    closed = f"http://127.0.0.1:{free_port()}"
    broken = settings.model_copy(update={"cognito_endpoint_url": closed})
    set_runtime(Runtime.from_settings(broken))
    try:
        before = sum(1 for _ in redis_client.scan_iter(match=job_key("*"), count=1000))
        with pytest.raises(TokenKeysUnavailableError, match="cannot be fetched"):
            submit_attribute_verification(token, "email")
        for front in serve_in_thread(broken):
            answer = httpx.post(
                f"{front.url}/",
                json={"Action": VERIFY, "AccessToken": token, "AttributeName": "email"},
                headers=bearer(TOKENS["verifier"]),
            )
            assert answer.status_code == 503, answer.text
            assert answer.json()["__type"] == "ServiceUnavailable"
            assert answer.headers["retry-after"] == "5"
        after = sum(1 for _ in redis_client.scan_iter(match=job_key("*"), count=1000))
        assert after == before
    finally:
        set_runtime(None)


class _CountingProxy:
    """A loopback HTTP server in front of the emulator's JWKS that counts the fetches."""

    def __init__(self, upstream: str) -> None:
        self.fetches = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.fetches += 1
                body = httpx.get(upstream + self.path).content
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _CountingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_proxy(emulator: EmulatorHandle) -> Iterator[_CountingProxy]:
    with _CountingProxy(emulator.endpoint_url) as proxy:
        yield proxy


def test_forged_kids_cannot_make_the_verifier_fetch_in_a_loop(
    pool: UserPool, counting_proxy: _CountingProxy
) -> None:
    verifier = TokenVerifier(
        ClientRegistry({}, default_region=None), endpoint_url=counting_proxy.url, timeout_seconds=3
    )
    real = pool.access_token(pool.add_user(f"kid-{uuid.uuid4().hex[:8]}", confirmed=True))
    assert verifier.verify(real).username.startswith("kid-")
    assert counting_proxy.fetches == 1
    _, claims = _parts(real)
    for n in range(50):
        forged = jwt.encode(claims, _KEY, algorithm="RS256", headers={"kid": f"forged-{n}"})
        with pytest.raises(NotAuthorizedError, match="kid"):
            verifier.verify(forged)
    # one fetch for the key set, none for 50 unknown kids inside the cooldown
    assert counting_proxy.fetches == 1, REFRESH_COOLDOWN_SECONDS
    for _ in range(20):
        verifier.verify(real)  # the cached set serves real tokens
    assert counting_proxy.fetches == 1


def test_a_forged_token_past_the_door_is_refused_by_the_worker_before_anything_is_spent(
    runtime: Runtime, pool: UserPool, emulator: EmulatorHandle
) -> None:
    """A job that never met the door (a message written straight to the queue) is still
    verified in the worker: ``failed NotAuthorizedException``, no call, no slot, no Region."""
    victim = pool.add_user(f"queue-victim-{uuid.uuid4().hex[:8]}", confirmed=True)
    forged = forgeries(pool, emulator, victim)
    statuses = StatusStore(runtime.redis, ttl_seconds=3600)
    guards = sum(1 for _ in runtime.redis.scan_iter(match=GUARD_KEY_PREFIX + "*", count=1000))
    regions = runtime.redis.smembers(REGIONS_KEY)
    for kind in ("unsigned", "alg none", "wrong key", "forged iss", "other pool", "expired"):
        job_id = f"forged-{uuid.uuid4().hex}"
        statuses.create(job_id, VERIFY)
        with pytest.raises(JobFailedError, match="NotAuthorizedException"):
            run_job(runtime, job_id, VerifyRequest(forged[kind], "email"))
        document = statuses.get(job_id)
        assert document["error"]["code"] == "NotAuthorizedException", (kind, document)
        assert document["attempts"] == 0, (kind, document)
        assert forged[kind] not in json.dumps(document)
    assert emulator.stats()["totals"].get(VERIFY, 0) == 0  # nothing reached Cognito
    after = sum(1 for _ in runtime.redis.scan_iter(match=GUARD_KEY_PREFIX + "*", count=1000))
    assert after == guards  # no guard slot taken
    assert runtime.redis.smembers(REGIONS_KEY) == regions  # no Region created
    real = VerifyRequest(_sign_in(pool, victim)["AccessToken"], "email")
    statuses.create("real-after-forgeries", VERIFY)
    assert run_job(runtime, "real-after-forgeries", real) == "succeeded"
