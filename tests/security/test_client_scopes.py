"""A principal limited to some app clients acts for those only, on every path of the front.

- verify-attribute: the AccessToken's ``client_id`` claim (verified first) must be one of
  the principal's clients: another client's token answers 403 naming it, nothing enqueued;
  a forged token is still refused 400 NotAuthorizedException (the client check reads no
  unverified claim).
- campaigns: a ``UserPoolId`` source must be the pool COURIER_CLIENTS lists for the
  campaign's client: another pool answers 403 naming it to a principal limited to some
  clients (no listing of another tenant's users), and 400 InvalidCampaignException to
  anyone else (the Python API raises CampaignError): its users would get codes through a
  client of another pool.

Real front (uvicorn), worker, Redis and the emulator (tests/security/conftest.py).
"""

from __future__ import annotations

import uuid

import pytest

from tasks import wait
from tasks.campaigns import start_campaign
from tests.support.security import TOKENS, Stack
from worker.contrib.emulator import EmulatorHandle
from worker.errors import CampaignError

VERIFY = "GetUserAttributeVerificationCode"


def _verify(token: str) -> dict[str, str]:
    return {"Action": VERIFY, "AccessToken": token, "AttributeName": "email"}


def _jobs(stack: Stack) -> int:
    return sum(1 for _ in stack.redis.scan_iter(match="courier:job:*", count=1000))


def test_a_token_of_another_client_answers_403_and_enqueues_nothing(
    stack: Stack, emulator: EmulatorHandle
) -> None:
    user = stack.pool.add_user(f"tenant-{uuid.uuid4().hex[:8]}", confirmed=True)
    token = stack.pool.access_token(user)  # issued to the public client
    before = _jobs(stack)
    with stack.client(TOKENS["secret-app"]) as other:
        refused = other.post("/", json=_verify(token))
        assert refused.status_code == 403, refused.text
        assert refused.json()["__type"] == "AccessDeniedException"
        assert stack.pool.client_id in refused.json()["message"]
        assert "secret-app" in refused.json()["message"]
        forged = other.post("/", json=_verify(token.rsplit(".", 1)[0] + ".Zm9yZ2Vk"))
        assert forged.status_code == 400, forged.text
        assert forged.json()["__type"] == "NotAuthorizedException"
    assert _jobs(stack) == before  # nothing enqueued for either
    with stack.client(TOKENS["public-app"]) as own:
        accepted = own.post("/", json=_verify(token))
        assert accepted.status_code == 202, accepted.text
    document = wait(accepted.json()["id"], timeout_seconds=60)
    assert document["state"] == "succeeded", document
    sent = [d for d in emulator.deliveries(user) if d["operation"] == VERIFY]
    assert len(sent) == 1


def test_a_campaign_over_another_tenants_pool_answers_403(
    stack: Stack, emulator: EmulatorHandle
) -> None:
    other_pool = emulator.make_pool("another-tenant")
    other_pool.add_user(f"theirs-{uuid.uuid4().hex[:8]}")
    body = {"ClientId": stack.pool.client_id, "UserPoolId": other_pool.pool_id, "DryRun": True}
    with stack.client(TOKENS["public-app"]) as http:
        refused = http.post("/campaigns", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["__type"] == "AccessDeniedException"
        assert other_pool.pool_id in refused.json()["message"]
        own = http.post("/campaigns", json={**body, "UserPoolId": stack.pool.pool_id})
        assert own.status_code != 403, own.text  # its own pool passes this check
    with stack.client(TOKENS["ops-console"]) as ops:  # clients "*": no 403, but the
        # registry ties the client to its pool, so another pool is refused for anyone
        anywhere = ops.post("/campaigns", json=body)
        assert anywhere.status_code == 400, anywhere.text
        assert anywhere.json()["__type"] == "InvalidCampaignException"
        assert other_pool.pool_id in anywhere.json()["message"]
    with pytest.raises(CampaignError, match="is not the pool of the app client"):
        start_campaign(stack.pool.client_id, user_pool_id=other_pool.pool_id, dry_run=True)
