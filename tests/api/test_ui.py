"""The operators' pages (/ui/) and the offline /docs, /redoc: auth, session cookie, CSRF,
scopes, what the pages show, on the test Redis with a TestClient (the browser test is
tests/ui/test_campaign_page.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from tasks.campaigns import campaign_status
from tests.support.campaigns import FIELDS, SIZE
from tests.support.synthetic import usernames
from worker.api import create_app
from worker.api.session import MAX_SESSIONS_PER_PRINCIPAL, SESSION_KEY_PREFIX, SessionStore
from worker.campaign.store import CampaignStore
from worker.contrib.redisserver import PrivateRedis
from worker.identity.principals import Principal
from worker.runtime import Runtime
from worker.settings import Settings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TOKEN = "ui-test-token-7c1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEWER = "ui-viewer-token-93ab"  # read-all, no campaigns scope
STRANGER = "ui-stranger-token-51d0"  # campaigns, not read-all: sees only its own


@pytest.fixture
def ui_settings(settings: Settings, tmp_path: Path) -> Settings:
    tokens = {
        "viewer": {"sha256": _sha(VIEWER), "clients": "*", "scopes": ["read-all"]},
        "stranger": {"sha256": _sha(STRANGER), "clients": "*", "scopes": ["campaigns"]},
    }
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(tokens), encoding="utf-8")
    return settings.model_copy(update={"api_tokens": [SecretStr(TOKEN)], "api_tokens_file": path})


@pytest.fixture
def ui(ui_settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(ui_settings), follow_redirects=False) as client:
        yield client


@pytest.fixture
def campaign_id(runtime: Runtime) -> str:
    """A campaign of 5 queued users and one rejected row, stored by hand: no task is sent,
    so the suite's in-process worker (if another test started it) never moves it."""
    store = CampaignStore(runtime.redis, uuid.uuid4().hex[:16])
    fields = {**FIELDS, "principal": "api-token-1", "name": "ui test"}
    expire_at = int(store.create(ttl_seconds=3600, fields=fields))
    store.append_rows(usernames(1, 5), first_row=0, chunk_size=SIZE, expire_at=expire_at)
    store.add_rejects([(6, "username is 200 characters long")], expire_at=expire_at)
    store.finish_ingest(rejected=1, duplicates=0)
    return store.id


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _login(client: TestClient, token: str) -> str:
    """Log in through the form; returns the page's CSRF token."""
    answer = client.post("/ui/login", data={"token": token})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_login_or_a_bearer_token(ui: TestClient, campaign_id: str) -> None:
    for path in ("/ui/", f"/ui/campaigns/{campaign_id}"):
        anonymous = ui.get(path)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/ui/login"
        bad = ui.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
        assert bad.json()["__type"] == "UnrecognizedClientException"
    live = ui.get(f"/ui/campaigns/{campaign_id}/live")
    assert live.status_code == 401
    assert ui.post(f"/ui/campaigns/{campaign_id}/pause").status_code == 401
    assert campaign_status(campaign_id)["state"] == "running"


def test_bearer_token_fetches_the_pages(ui: TestClient, campaign_id: str) -> None:
    listing = ui.get("/ui/", headers=AUTH)
    assert listing.status_code == 200
    assert listing.headers["content-type"].startswith("text/html")
    assert f'href="/ui/campaigns/{campaign_id}"' in listing.text
    assert "default-src 'none'" in listing.headers["content-security-policy"]
    page = ui.get(f"/ui/campaigns/{campaign_id}", headers=AUTH)
    assert page.status_code == 200
    assert '<td data-count="queued">5</td>' in page.text
    assert '<dd data-field="state">running</dd>' in page.text
    assert "<tr><td>6</td><td>" in page.text  # the rejected row, its line number
    assert 'data-control="pause"' in page.text  # full access: the controls are there
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    script = ui.get("/ui/static/ui.js")
    assert script.status_code == 200
    assert "X-CSRF-Token" in script.text
    assert ui.get("/ui/static/../app.py").status_code == 404


def test_live_document(ui: TestClient, campaign_id: str) -> None:
    live = ui.get(f"/ui/campaigns/{campaign_id}/live", headers=AUTH)
    assert live.status_code == 200
    body: dict[str, Any] = live.json()
    assert body["campaign"]["id"] == campaign_id
    assert body["campaign"]["counts"]["queued"] == 5
    assert body["errors"] == []  # nothing sent yet
    series = body["rate_series"]
    assert len(series) == 30
    assert [p["at"] for p in series] == list(range(series[0]["at"], series[0]["at"] + 30))
    assert {p["calls"] for p in series} == {0}
    assert [r["line"] for r in body["rejects"]] == [6]
    assert ui.get("/ui/campaigns/bad%20id/live", headers=AUTH).status_code == 400
    assert ui.get("/ui/campaigns/nope/live", headers=AUTH).status_code == 404


def test_login_cookie_is_opaque_httponly_strict(ui: TestClient, campaign_id: str) -> None:
    refused = ui.post("/ui/login", data={"token": "wrong"})
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    answer = ui.post("/ui/login", data={"token": TOKEN})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("courier_session=")
    assert TOKEN not in cookie
    assert _sha(TOKEN) not in cookie
    lowered = cookie.lower()
    for attribute in ("httponly", "samesite=strict", "path=/ui", "max-age="):
        assert attribute in lowered, cookie
    assert "secure" not in lowered  # plain HTTP here; see the TLS case
    page = ui.get(f"/ui/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "api-token-1" in page.text


def test_login_logs_no_token(
    ui: TestClient, campaign_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ui.post("/ui/login", data={"token": "not-it-" + TOKEN})
    ui.post("/ui/login", data={"token": TOKEN})
    assert ui.get(f"/ui/campaigns/{campaign_id}").status_code == 200
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "/ui/login" in logged  # the requests were logged...
    assert TOKEN not in logged  # ...without the token
    assert ui.cookies["courier_session"] not in logged  # nor the session id


def test_cookie_is_secure_over_tls(ui_settings: Settings, runtime: Runtime) -> None:
    app = create_app(ui_settings)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        answer = client.post("/ui/login", data={"token": TOKEN})
        assert answer.status_code == 303
        assert "secure" in answer.headers["set-cookie"].lower()


def test_session_posts_need_the_csrf_token(ui: TestClient, campaign_id: str) -> None:
    csrf = _login(ui, TOKEN)
    forged = ui.post(f"/ui/campaigns/{campaign_id}/pause")
    assert forged.status_code == 403
    assert forged.json()["__type"] == "InvalidCsrfToken"
    wrong = ui.post(f"/ui/campaigns/{campaign_id}/pause", headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    assert campaign_status(campaign_id)["state"] == "running"
    paused = ui.post(f"/ui/campaigns/{campaign_id}/pause", headers={"X-CSRF-Token": csrf})
    assert paused.status_code == 200
    assert paused.json()["state"] == "paused"
    assert campaign_status(campaign_id)["state"] == "paused"
    again = ui.post(f"/ui/campaigns/{campaign_id}/pause", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409
    assert again.json()["__type"] == "InvalidCampaignState"
    resumed = ui.post(f"/ui/campaigns/{campaign_id}/resume", headers={"X-CSRF-Token": csrf})
    assert resumed.json()["state"] == "running"
    unknown = ui.post(f"/ui/campaigns/{campaign_id}/delete", headers={"X-CSRF-Token": csrf})
    assert unknown.status_code == 404
    out = ui.post("/ui/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 303
    assert ui.get("/ui/").status_code == 303  # the session is gone


def test_bearer_controls_need_no_csrf_token(ui: TestClient, campaign_id: str) -> None:
    cancelled = ui.post(f"/ui/campaigns/{campaign_id}/cancel", headers=AUTH)
    assert cancelled.status_code == 200
    assert campaign_status(campaign_id)["state"] == "cancelled"


def test_controls_only_for_the_campaigns_scope(ui: TestClient, campaign_id: str) -> None:
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    page = ui.get(f"/ui/campaigns/{campaign_id}", headers=viewer)
    assert page.status_code == 200  # read-all sees it
    assert "data-control" not in page.text
    refused = ui.post(f"/ui/campaigns/{campaign_id}/pause", headers=viewer)
    assert refused.status_code == 403
    assert "campaigns" in refused.json()["message"]
    stranger = {"Authorization": f"Bearer {STRANGER}"}
    assert ui.get(f"/ui/campaigns/{campaign_id}", headers=stranger).status_code == 404
    assert ui.post(f"/ui/campaigns/{campaign_id}/pause", headers=stranger).status_code == 404
    assert campaign_id not in ui.get("/ui/", headers=stranger).text
    assert campaign_status(campaign_id)["state"] == "running"


def test_docs_and_redoc_load_nothing_from_the_internet(ui: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = ui.get(path)
        assert page.status_code == 200
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", page.text), page.text
        for asset in re.findall(r"(?:src|href)=\"(/docs/static/[^\"]+)\"", page.text):
            served = ui.get(asset)
            assert served.status_code == 200, asset
            assert len(served.content) > 1000, asset
    assert b"cdn.redoc.ly" not in ui.get("/docs/static/redoc.standalone.js").content
    assert ui.get("/docs/static/nothing.js").status_code == 404


def test_openapi_documents_the_ui_operations(ui: TestClient) -> None:
    document = ui.get("/openapi.json").json()
    live = document["paths"]["/ui/campaigns/{campaign_id}/live"]["get"]
    assert live["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CampaignLive"
    }
    assert "controlCampaign" in json.dumps(document["paths"])
    assert document["components"]["securitySchemes"]["session"]["in"] == "cookie"


def test_page_shows_the_pause_reason(ui: TestClient, runtime: Runtime, campaign_id: str) -> None:
    store = CampaignStore(runtime.redis, campaign_id)
    store.set_state("paused", allowed_from={"active"})
    reason = {
        "code": "LimitExceededException",
        "message": "Exceeded daily email limit <b>",
        "at": "t",
    }
    store.update_meta(pause_reason=json.dumps(reason))
    page = ui.get(f"/ui/campaigns/{campaign_id}", headers=AUTH).text
    assert '<dd data-field="state">paused</dd>' in page
    assert "LimitExceededException: Exceeded daily email limit &lt;b&gt; (at t)" in page
    live = ui.get(f"/ui/campaigns/{campaign_id}/live", headers=AUTH).json()
    assert live["campaign"]["pause_reason"] == reason


def test_a_cross_site_login_is_refused(ui: TestClient, campaign_id: str) -> None:
    """Login CSRF: a hostile page must not log a browser in as the page's own principal."""
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},
    ):
        refused = ui.post("/ui/login", data={"token": TOKEN}, headers=headers)
        assert refused.status_code == 403, headers
        assert "set-cookie" not in refused.headers
    same = ui.post(
        "/ui/login",
        data={"token": TOKEN},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    )
    assert same.status_code == 303


def test_one_principal_cannot_push_out_another_principals_sessions(runtime: Runtime) -> None:
    """A flood of logins with one token forgets only that principal's oldest sessions
    (the outsider probe logged every operator out with 10,000 resend-only logins)."""
    operator = Principal(f"ops-{uuid.uuid4().hex[:6]}", "0" * 64, None, frozenset({"campaigns"}))
    attacker = Principal(f"tenant-{uuid.uuid4().hex[:6]}", "1" * 64, None, frozenset({"resend"}))
    known = {p.name: p for p in (operator, attacker)}
    store = SessionStore(lambda: runtime.redis, known.get)
    kept, _ = store.open(operator)
    first, _ = store.open(attacker)
    for _ in range(MAX_SESSIONS_PER_PRINCIPAL + 50):
        store.open(attacker)
    assert store.find(kept) is not None
    assert store.find(first) is None  # its own oldest went
    held = runtime.redis.zcard(f"courier:{{ui}}:principal:{attacker.name}")
    assert held == MAX_SESSIONS_PER_PRINCIPAL
    digest = hashlib.sha256(kept.encode()).hexdigest()
    stored = runtime.redis.get(SESSION_KEY_PREFIX + digest)
    assert stored is not None
    assert kept.encode() not in stored  # Redis holds the id's digest, never the id
    assert 0 < runtime.redis.pttl(SESSION_KEY_PREFIX + digest) <= 8 * 3600 * 1000
    assert not list(runtime.redis.scan_iter(match=f"*{kept}*"))


def test_a_session_ends_on_time_and_with_its_principal(runtime: Runtime) -> None:
    operator = Principal(f"ops-{uuid.uuid4().hex[:6]}", "0" * 64, None, frozenset({"campaigns"}))
    known = {operator.name: operator}
    short = SessionStore(lambda: runtime.redis, known.get, lifetime_seconds=0.5)
    session_id, session = short.open(operator)
    assert short.find(session_id) == session
    time.sleep(0.7)
    assert short.find(session_id) is None  # ended on Redis's clock
    store = SessionStore(lambda: runtime.redis, known.get)
    session_id, _ = store.open(operator)
    # the token rotated, the name kept (a leaked token replaced): its sessions end
    known[operator.name] = Principal(operator.name, "2" * 64, None, operator.scopes)
    assert store.find(session_id) is None
    known[operator.name] = operator
    assert store.find(session_id) is not None
    del known[operator.name]  # the token left the configuration
    assert store.find(session_id) is None
    assert store.find("x" * 5000) is None  # no oversized cookie is hashed or looked up


def test_a_logout_gets_through_a_full_redis(runtime: Runtime) -> None:
    """Plain deletions, no MULTI: a full Redis (noeviction) still ends a session."""
    operator = Principal(f"ops-{uuid.uuid4().hex[:6]}", "0" * 64, None, frozenset({"campaigns"}))
    with PrivateRedis() as server:  # noeviction
        client = server.client()
        store = SessionStore(lambda: client, {operator.name: operator}.get)
        session_id, _ = store.open(operator)
        client.set("ballast", "x" * 100_000)
        client.config_set("maxmemory", "1")
        try:
            with pytest.raises(redis.ResponseError, match="maxmemory"):  # full: writes refused
                client.set("more", "x")
            store.close(session_id)
            assert store.find(session_id) is None
        finally:
            client.config_set("maxmemory", "0")
            client.close()


def test_every_replica_of_the_front_knows_a_login_and_a_logout(
    ui_settings: Settings, runtime: Runtime, campaign_id: str
) -> None:
    """Two front processes behind one Service (deploy/k8s/api.yaml has 2 replicas): a
    browser logged in on one is logged in on the other; a logout on either ends it."""
    with (
        TestClient(create_app(ui_settings), follow_redirects=False) as first,
        TestClient(create_app(ui_settings), follow_redirects=False) as second,
    ):
        csrf = _login(first, TOKEN)
        second.cookies.set("courier_session", first.cookies["courier_session"], path="/ui")
        page = second.get(f"/ui/campaigns/{campaign_id}")
        assert page.status_code == 200, page.text
        assert f'<meta name="csrf-token" content="{csrf}">' in page.text  # same token
        paused = second.post(f"/ui/campaigns/{campaign_id}/pause", headers={"X-CSRF-Token": csrf})
        assert paused.status_code == 200, paused.text
        assert second.post("/ui/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
        assert first.get("/ui/").status_code == 303  # to the login page: the session ended


def test_a_proxys_basic_header_leaves_the_session_cookie_in_charge(
    ui: TestClient, campaign_id: str
) -> None:
    """A proxy in front (Basic auth, oauth2-proxy) adds its own Authorization header: the
    page still goes by the cookie, and a POST still needs the CSRF token (a browser does
    resend Basic credentials by itself)."""
    basic = {"Authorization": "Basic b3BzOnNlY3JldA=="}
    csrf = _login(ui, TOKEN)
    assert ui.get(f"/ui/campaigns/{campaign_id}", headers=basic).status_code == 200
    refused = ui.post(f"/ui/campaigns/{campaign_id}/pause", headers=basic)
    assert refused.status_code == 403
    assert refused.json()["__type"] == "InvalidCsrfToken"
    paused = ui.post(f"/ui/campaigns/{campaign_id}/pause", headers={**basic, "X-CSRF-Token": csrf})
    assert paused.status_code == 200, paused.text
    ui.cookies.clear()
    assert ui.get("/ui/", headers=basic).status_code == 303  # no cookie: the login page
