"""Credentials and principals keep callers apart.

- A wrong SecretHash in front of the right one no longer absorbs it (two jobs; the right
  one delivers), in either order.
- A refused credential (NotAuthorizedException from Cognito) gives the guard slot back.
- Scoped API tokens: 403 AccessDeniedException naming the scope or the client; another
  principal's job or campaign answers 404; idempotency keys are per principal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import httpx

from tasks import wait
from tests.support.security import FULL_TOKEN, TOKENS, Stack
from worker.contrib.emulator import EmulatorHandle

RESEND = "ResendConfirmationCode"


def _secret_hash(stack: Stack, username: str) -> str:
    message = (username + stack.pool.secret_client_id).encode()
    digest = hmac.new(stack.pool.client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _resend(http: httpx.Client, client_id: str, username: str, **extra: str) -> httpx.Response:
    body = {"Action": RESEND, "ClientId": client_id, "Username": username, **extra}
    return http.post("/", json=body)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_wrong_secret_hash_never_absorbs_the_right_one(
    stack: Stack, emulator: EmulatorHandle
) -> None:
    # the first job is still in flight when the second arrives (read timeout here: 2 s)
    emulator.configure(latency={"fixed_ms": 1200.0})
    try:
        for order in ("wrong first", "right first"):
            erin = stack.pool.add_user(_name("erin"))
            wrong = {"SecretHash": base64.b64encode(b"not the hash").decode()}
            right = {"SecretHash": _secret_hash(stack, erin)}
            pairs = [(erin.upper(), wrong), (erin, right)]
            if order == "right first":
                pairs.reverse()
            with stack.client(TOKENS["ops-console"]) as http:
                answers = [_resend(http, stack.pool.secret_client_id, u, **h) for u, h in pairs]
            assert [a.status_code for a in answers] == [202, 202], order
            ids = [a.json()["id"] for a in answers]
            assert ids[0] != ids[1], order  # two credentials, two jobs
            outcomes = {
                "wrong" if h is wrong else "right": wait(i, timeout_seconds=60)
                for (_, h), i in zip(pairs, ids, strict=True)
            }
            assert outcomes["right"]["state"] == "succeeded", (order, outcomes)
            assert outcomes["wrong"]["state"] == "failed", (order, outcomes)
            assert outcomes["wrong"]["error"]["code"] == "NotAuthorizedException"
            assert outcomes["wrong"]["delivery"] is None  # no masked destination leaks
            sent = [d for d in emulator.deliveries(erin) if d["operation"] == RESEND]
            assert len(sent) == 1, order
    finally:
        emulator.configure(latency={"fixed_ms": 0.0})


def test_refused_credentials_give_the_guard_slot_back(
    stack: Stack, emulator: EmulatorHandle
) -> None:
    """Six refused SecretHashes for one user, then the right request: sent, not skipped
    (without the release the user's five hourly slots would be spent by the refusals)."""
    user = stack.pool.add_user(_name("slot"))
    with stack.client(TOKENS["ops-console"]) as http:
        for n in range(6):
            fake = base64.b64encode(f"wrong-{n}".encode()).decode()
            answer = _resend(http, stack.pool.secret_client_id, user, SecretHash=fake)
            document = wait(answer.json()["id"], timeout_seconds=30)
            assert document["error"]["code"] == "NotAuthorizedException", document
        answer = _resend(http, stack.pool.secret_client_id, user)  # workers compute the hash
    document = wait(answer.json()["id"], timeout_seconds=30)
    assert document["state"] == "succeeded", document


def test_scopes_and_clients_answer_403_naming_what_is_missing(stack: Stack) -> None:
    other_client = stack.pool.secret_client_id
    with stack.client(TOKENS["signup-service"]) as http:
        assert _resend(http, stack.pool.client_id, _name("ok")).status_code == 202
        refused = _resend(http, other_client, _name("no"))
        assert refused.status_code == 403
        assert refused.json()["__type"] == "AccessDeniedException"
        assert other_client in refused.json()["message"]
        assert "signup-service" in refused.json()["message"]
        verify = http.post(
            "/",
            json={
                "Action": "GetUserAttributeVerificationCode",
                "AccessToken": "a.b.c",
                "AttributeName": "email",
            },
        )
        assert verify.status_code == 403
        assert "'verify-attribute'" in verify.json()["message"]
        campaign = http.post(
            "/campaigns", json={"ClientId": stack.pool.client_id, "Usernames": ["x"]}
        )
        assert campaign.status_code == 403
        assert "'campaigns'" in campaign.json()["message"]
    with stack.client(TOKENS["verifier"]) as http:
        answer = _resend(http, stack.pool.client_id, _name("nope"))
        assert answer.status_code == 403
        assert "'resend'" in answer.json()["message"]


def test_another_principals_jobs_and_campaigns_answer_404(stack: Stack) -> None:
    with stack.client(TOKENS["signup-service"]) as signup:
        mine = _resend(signup, stack.pool.client_id, _name("mine")).json()
        assert mine["principal"] == "signup-service"
        assert signup.get(f"/jobs/{mine['id']}").status_code == 200
    with stack.client(TOKENS["ops-console"]) as ops:
        theirs = _resend(ops, stack.pool.client_id, _name("theirs")).json()
        assert ops.get(f"/jobs/{mine['id']}").status_code == 200  # read-all
        started = ops.post(
            "/campaigns", json={"ClientId": stack.pool.client_id, "Usernames": [_name("c")]}
        )
        assert started.status_code == 202, started.text
        campaign = started.json()
        assert campaign["principal"] == "ops-console"
        assert ops.get(f"/campaigns/{campaign['id']}").status_code == 200
    with stack.client(TOKENS["signup-service"]) as signup:
        hidden = signup.get(f"/jobs/{theirs['id']}")
        missing = signup.get("/jobs/0f6f0c4e-0000-4000-8000-000000000000")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["__type"] == missing.json()["__type"] == "JobNotFound"
        hidden_campaign = signup.get(f"/campaigns/{campaign['id']}")
        assert hidden_campaign.status_code == 404
        assert hidden_campaign.json()["__type"] == "CampaignNotFound"
    with stack.client(TOKENS["verifier"]) as verifier:
        assert verifier.get(f"/jobs/{mine['id']}").status_code == 404
    with stack.client(FULL_TOKEN) as full:  # COURIER_API_TOKENS: full access, read-all
        assert full.get(f"/jobs/{mine['id']}").status_code == 200
        assert full.get(f"/campaigns/{campaign['id']}").status_code == 200


def test_idempotency_keys_are_per_principal(stack: Stack) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    with stack.client(TOKENS["signup-service"]) as signup:
        first = signup.post(
            "/",
            json={"Action": RESEND, "ClientId": stack.pool.client_id, "Username": _name("a")},
            headers=key,
        )
        assert first.status_code == 202
    with stack.client(TOKENS["ops-console"]) as ops:
        # another principal's key: neither its job nor a 422 confirming the key exists
        other = ops.post(
            "/",
            json={"Action": RESEND, "ClientId": stack.pool.client_id, "Username": _name("b")},
            headers=key,
        )
        assert other.status_code == 202, other.text
        assert other.json()["id"] != first.json()["id"]
