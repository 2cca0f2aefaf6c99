"""The operators' pages: ``/ui/`` (campaigns) and ``/ui/campaigns/{id}`` (one campaign, live).

Auth as the API's (:mod:`worker.api.auth`): ``Authorization: Bearer <token>`` works on
every route here (tools and tests fetch the pages), and a browser logs in with the form
at ``/ui/login`` and carries a session cookie (:mod:`worker.api.session`). A page asked
for without either redirects (303) to the login form; the JSON routes answer 401.

Routes (documented in docs/api.md and :mod:`worker.api.openapi_ui`):

- ``GET /ui/`` - the campaigns the principal may read (its own; all with ``read-all``);
  ``GET`` and ``HEAD /ui`` answer 308 to ``/ui/`` (no auth: the redirect shows nothing).
- ``GET /ui/campaigns/{id}`` - one campaign; its script polls the next route each second.
- ``GET /ui/campaigns/{id}/live`` - JSON ``{"campaign": <campaign status document>,
  "rate_series": [{"at", "calls"}], "errors": [{"state", "code", "count"}],
  "rejects": [{"line", "reason"}]}``: the calls recorded in each of the last
  :data:`SERIES_SECONDS` whole seconds (``at``: epoch seconds, Redis's clock), outcomes by
  Cognito error code (tallied from the rows, at most every :data:`TALLY_SECONDS`) and the
  first 1,000 rejected input rows.
- ``POST /ui/campaigns/{id}/pause|resume|cancel`` - the control (scope ``campaigns``);
  answers the status document; 409 ``InvalidCampaignState`` when it means nothing now.
- ``GET|POST /ui/login``, ``POST /ui/logout``, ``GET /ui/static/{name}`` (the page's
  script and style sheet, shipped in the package: nothing comes from the internet).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from importlib.resources import files
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from worker.api.auth import load_principals, principal_of, require, visible
from worker.api.errors import ApiError, invalid
from worker.api.params import ID_PATTERN
from worker.api.session import COOKIE, SessionStore, check_csrf
from worker.api.ui_pages import campaign_page, list_page, login_page
from worker.campaign.model import MAX_REJECTS_SHOWN
from worker.campaign.report import REJECTED_CODE, iter_report_rows
from worker.campaign.store import CampaignStore
from worker.errors import CampaignStateError
from worker.identity.principals import Principal
from worker.runtime import get_runtime
from worker.settings import Settings

__all__ = [
    "PAGE_HEADERS",
    "SERIES_SECONDS",
    "TALLY_SECONDS",
    "install_ui",
    "outcome_tally",
    "rate_series",
]

TALLY_SECONDS: Final = 5.0
"""A campaign's outcomes by error code are tallied from its rows at most this often."""
SERIES_SECONDS: Final = 30
"""Whole seconds of per-second call counts in ``rate_series`` (the store keeps a ring of 32)."""
MAX_LOGIN_BYTES: Final = 4096
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC: Final = {"ui.js": "text/javascript", "ui.css": "text/css"}
_CONTROLS: Final = ("pause", "resume", "cancel")


def outcome_tally(store: CampaignStore) -> list[dict[str, Any]]:
    """The campaign's rows by ``(state, error code)``, most first; rows without an error
    code are left out, and so are rejected input rows (shown apart).

    Raises:
        CampaignNotFoundError: no such campaign.
    """
    tally: Counter[tuple[str, str]] = Counter()
    for row in iter_report_rows(store):
        state, code = row[1], row[2]
        if code and code != REJECTED_CODE:
            tally[state, code] += 1
    return [{"state": state, "code": code, "count": n} for (state, code), n in tally.most_common()]


def rate_series(store: CampaignStore) -> list[dict[str, int]]:
    """Calls recorded in each of the last :data:`SERIES_SECONDS` whole seconds, oldest
    first: ``[{"at": epoch second (Redis's clock), "calls": n}]`` (0 for a quiet second),
    read from the campaign's ring of per-second counters (:mod:`worker.campaign.figures`)."""
    pipe = store.redis.pipeline(transaction=True)
    pipe.hgetall(store.keys.rate)
    pipe.time()
    raw, (seconds, _) = pipe.execute()
    calls: dict[int, int] = {}
    for slot in range(32):
        stamp = raw.get(f"t{slot}".encode())
        if stamp is not None:
            calls[int(stamp)] = int(raw.get(f"n{slot}".encode(), b"0"))
    now = int(seconds)  # this second is not whole yet
    return [{"at": at, "calls": calls.get(at, 0)} for at in range(now - SERIES_SECONDS, now)]


class _Tallies:
    """:func:`outcome_tally` of each campaign, kept :data:`TALLY_SECONDS`."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    def get(self, store: CampaignStore) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            found = self._kept.get(store.id)
        if found is not None and now - found[0] < TALLY_SECONDS:
            return found[1]
        tally = outcome_tally(store)
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if now - v[0] < TALLY_SECONDS}
            self._kept[store.id] = (now, tally)
        return tally


def _store(campaign_id: str) -> CampaignStore:
    if not ID_PATTERN.fullmatch(campaign_id):
        raise invalid("CampaignId", "not a campaign id")
    return CampaignStore(get_runtime().redis, campaign_id)


class _Gate:
    """Who is calling a ``/ui/`` route: a bearer header, else a session cookie."""

    def __init__(self, settings: Settings, check_bearer: Callable[[Request], None]) -> None:
        self.principals = load_principals(settings)
        self.sessions = SessionStore(lambda: get_runtime().redis, self.principals.named)
        self.check_bearer = check_bearer

    async def who(self, request: Request) -> Principal | None:
        """The caller's principal (401 for a bad bearer header), or None: not logged in.

        Raises:
            redis.RedisError: the sessions cannot be read (the front answers 503).
        """
        scheme, _, _ = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":  # another scheme (a proxy's Basic) leaves the cookie
            self.check_bearer(request)
            return principal_of(request)
        session = await run_in_threadpool(self.sessions.find, request.cookies.get(COOKIE))
        if session is None:
            return None
        request.state.principal = session.principal
        request.state.session = session
        return session.principal

    async def json_caller(self, request: Request, *, posting: bool = False) -> Principal:
        """The caller's principal; a session's POST must carry its CSRF token.

        Raises:
            ApiError: 401 not logged in; 403 InvalidCsrfToken.
        """
        principal = await self.who(request)
        if principal is None:
            raise ApiError(
                401, "MissingAuthenticationToken", "log in at /ui/login or send a bearer token"
            )
        session = getattr(request.state, "session", None)
        if posting and session is not None:  # cookie-authenticated: the token must come back
            check_csrf(request, session)
        return principal


def _csrf_of(request: Request) -> str:
    session = getattr(request.state, "session", None)
    return "" if session is None else str(session.csrf)


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def install_ui(
    app: FastAPI,
    settings: Settings,
    check_bearer: Callable[[Request], None],
    *,
    body_timeout_seconds: float,
) -> None:
    """Add the ``/ui/`` routes (see the module) to ``app``.

    Raises:
        ConfigurationError: no API token is configured (as :func:`~worker.api.auth.bearer_check`).
    """
    gate = _Gate(settings, check_bearer)
    _install_login(app, gate, body_timeout_seconds=body_timeout_seconds)
    _install_pages(app, gate, _Tallies())
    _install_controls(app, gate)
    _install_static(app)


def _install_login(app: FastAPI, gate: _Gate, *, body_timeout_seconds: float) -> None:
    # One route for both methods, so a 405 lists both in its Allow header.
    @app.api_route("/ui/login", methods=["GET", "POST"])
    async def login(request: Request) -> Response:
        request.state.action = "UiLogin"
        if request.method == "GET":
            return _html(login_page())
        if not _same_origin(request):
            # Login CSRF: a hostile page must not log a browser in as its own principal.
            raise ApiError(403, "InvalidOrigin", "log in from this front's own page (/ui/login)")
        body = await _read_form(request, timeout_seconds=body_timeout_seconds)
        token = (body.get("token") or [""])[0].strip()
        principal = gate.principals.find(token) if token else None
        if principal is None:
            return _html(login_page(error="That token is not one this front accepts."), 401)
        session_id, _ = await run_in_threadpool(gate.sessions.open, principal)
        response = RedirectResponse("/ui/", status_code=303, headers=PAGE_HEADERS)
        gate.sessions.set_cookie(request, response, session_id)
        return response

    @app.post("/ui/logout")
    async def logout(request: Request) -> Response:
        request.state.action = "UiLogout"
        await gate.json_caller(request, posting=True)
        await run_in_threadpool(gate.sessions.close, request.cookies.get(COOKIE))
        response = RedirectResponse("/ui/login", status_code=303, headers=PAGE_HEADERS)
        response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
        return response


def _install_pages(app: FastAPI, gate: _Gate, tallies: _Tallies) -> None:
    async def read(request: Request, campaign_id: str) -> tuple[dict[str, Any], Any, Any]:
        from tasks.campaigns import campaign_status  # noqa: PLC0415

        store = _store(campaign_id)
        document = await run_in_threadpool(campaign_status, campaign_id)
        visible(request, document.get("principal"), what="campaign", ident=campaign_id)
        errors = await run_in_threadpool(tallies.get, store)
        rejects = await run_in_threadpool(store.rejects)
        return document, errors, rejects[:MAX_REJECTS_SHOWN]

    # Starlette's own slash redirect is off (worker.api.app); this one names no host.
    @app.api_route("/ui", methods=["GET", "HEAD"])
    async def to_campaigns(request: Request) -> Response:
        request.state.action = "UiRedirect"
        return RedirectResponse("/ui/", status_code=308)

    @app.get("/ui/")
    async def campaigns(request: Request) -> Response:
        from tasks.campaigns import list_campaigns  # noqa: PLC0415

        request.state.action = "UiCampaigns"
        principal = await gate.who(request)
        if principal is None:
            return RedirectResponse("/ui/login", status_code=303)
        documents = await run_in_threadpool(list_campaigns)
        mine = [d for d in documents if principal.may_read(d.get("principal"))]
        return _html(list_page(principal, mine, csrf=_csrf_of(request)))

    @app.get("/ui/campaigns/{campaign_id}")
    async def campaign(request: Request, campaign_id: str) -> Response:
        request.state.action = "UiCampaign"
        principal = await gate.who(request)
        if principal is None:
            return RedirectResponse("/ui/login", status_code=303)
        document, errors, rejects = await read(request, campaign_id)
        page = campaign_page(
            principal, document, errors=errors, rejects=rejects, csrf=_csrf_of(request)
        )
        return _html(page)

    @app.get("/ui/campaigns/{campaign_id}/live")
    async def live(request: Request, campaign_id: str) -> JSONResponse:
        request.state.action = "UiLive"
        await gate.json_caller(request)
        document, errors, rejects = await read(request, campaign_id)
        shown = [{"line": line, "reason": reason} for line, reason in rejects]
        series = await run_in_threadpool(rate_series, _store(campaign_id))
        body = {"campaign": document, "rate_series": series, "errors": errors, "rejects": shown}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _install_controls(app: FastAPI, gate: _Gate) -> None:
    @app.post("/ui/campaigns/{campaign_id}/{control}")
    async def control(request: Request, campaign_id: str, control: str) -> JSONResponse:
        from tasks import campaigns as api  # noqa: PLC0415

        request.state.action = "UiControl"
        if control not in _CONTROLS:
            raise ApiError(404, "NotFound", "no such control: pause, resume or cancel")
        await gate.json_caller(request, posting=True)
        require(request, "campaigns")
        _store(campaign_id)
        document = await run_in_threadpool(api.campaign_status, campaign_id)
        visible(request, document.get("principal"), what="campaign", ident=campaign_id)
        act = {"pause": api.pause_campaign, "resume": api.resume_campaign}.get(
            control, api.cancel_campaign
        )
        try:
            document = await run_in_threadpool(act, campaign_id)
        except CampaignStateError as exc:
            raise ApiError(409, "InvalidCampaignState", str(exc)) from None
        return JSONResponse(document)


def _install_static(app: FastAPI) -> None:
    @app.get("/ui/static/{name}")
    async def static(request: Request, name: str) -> Response:
        request.state.action = "UiStatic"
        media_type = _STATIC.get(name)
        if media_type is None:
            raise ApiError(404, "NotFound", "no such file")
        content = (files("worker.api") / "static" / name).read_bytes()
        headers = {"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"}
        return Response(content, media_type=media_type, headers=headers)


def _same_origin(request: Request) -> bool:
    """False for a request a browser marks as sent from another site: ``Sec-Fetch-Site``
    other than ``same-origin``/``none``, or an ``Origin`` whose host is not this request's
    ``Host`` (Fetch standard; OWASP CSRF cheat sheet, "Verifying origin with standard
    headers"). Tools that send neither header (curl, tests) are not browsers: allowed."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # "null": a page served with Referrer-Policy no-referrer (ours) posts Origin: null;
        # Sec-Fetch-Site, checked above, then tells where it came from.
        return True
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def _read_form(request: Request, *, timeout_seconds: float) -> dict[str, list[str]]:
    """The ``application/x-www-form-urlencoded`` body of ``request`` (at most 4 KiB)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise ApiError(415, "UnsupportedMediaType", "send the login form as a form")
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_LOGIN_BYTES:
                raise ApiError(413, "RequestEntityTooLarge", "the login form is too large")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), timeout_seconds)
    except TimeoutError:
        raise ApiError(408, "RequestTimeout", "the form did not arrive in time") from None
    try:
        return parse_qs(b"".join(chunks).decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise invalid("token", "the form is not URL-encoded UTF-8") from None
