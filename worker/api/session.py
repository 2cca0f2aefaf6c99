"""Browser sessions of the operators' pages (``/ui/``): login cookie and CSRF token.

A browser logs in by posting a bearer token to ``POST /ui/login``; the front checks it as
it checks an ``Authorization`` header (:mod:`worker.api.auth`) and answers with a cookie
``courier_session``:

- the cookie holds an opaque random id (32 bytes, URL-safe base64), never the token; the
  front keeps only the SHA-256 of that id, beside the principal's *name* and scopes, in
  this process's memory (a restart, or another replica, asks for a new login);
- ``HttpOnly``, ``SameSite=Strict``, ``Path=/ui``, ``Max-Age`` :data:`SESSION_SECONDS`,
  and ``Secure`` when the request came over TLS (``https``);
- each session has a CSRF token (random, 32 bytes), written into every page it is served
  (``<meta name="csrf-token">``); a ``POST`` from the page (pause, resume, cancel,
  logout) must send it back in the ``X-CSRF-Token`` header, or it answers
  ``403 InvalidCsrfToken``. A request carrying ``Authorization: Bearer`` needs no CSRF
  token: a browser never adds that header by itself.

A session lasts :data:`SESSION_SECONDS` from login, or until ``POST /ui/logout``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final

from fastapi import Request, Response

from worker.api.errors import ApiError
from worker.identity.principals import Principal

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "SESSION_SECONDS",
    "Session",
    "SessionStore",
    "check_csrf",
]

COOKIE: Final = "courier_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_SECONDS: Final = 8 * 3600
"""How long a login lasts, seconds."""
MAX_SESSIONS: Final = 10_000
"""Sessions kept at most; past it the oldest are forgotten (their browsers log in again)."""
MAX_SESSIONS_PER_PRINCIPAL: Final = 32
"""Sessions one principal keeps at most; a new login past it forgets that principal's
oldest. A principal can so never push another's sessions out (10,000 logins with one
resend-only token logged every operator out before this cap)."""


@dataclass(frozen=True)
class Session:
    """One logged-in browser.

    Attributes:
        principal: the API principal whose token logged in.
        csrf: the token the page's POSTs must carry (``X-CSRF-Token``).
        expires_at: when it ends, ``time.monotonic()`` seconds.
    """

    principal: Principal
    csrf: str
    expires_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionStore:
    """The sessions of one front process, keyed by the SHA-256 of their cookie's id."""

    def __init__(self, *, lifetime_seconds: float = SESSION_SECONDS) -> None:
        if lifetime_seconds <= 0:
            raise ValueError(f"lifetime_seconds must be > 0, got {lifetime_seconds!r}")
        self._lifetime = lifetime_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, principal: Principal) -> tuple[str, Session]:
        """A new session for ``principal``: ``(cookie value, session)``."""
        session_id = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(32), time.monotonic() + self._lifetime)
        with self._lock:
            self._forget_expired()
            own = [k for k, s in self._sessions.items() if s.principal.name == principal.name]
            for key in own[: max(0, len(own) - MAX_SESSIONS_PER_PRINCIPAL + 1)]:
                del self._sessions[key]  # this principal's oldest first (dict order)
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))  # oldest first (dict order)
            self._sessions[_digest(session_id)] = session
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        """The live session of cookie value ``session_id``, or None."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(_digest(session_id))
        if session is None or session.expires_at <= time.monotonic():
            return None
        return session

    def close(self, session_id: str | None) -> None:
        """Forget the session of ``session_id`` (nothing if there is none)."""
        if session_id:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]

    def set_cookie(self, request: Request, response: Response, session_id: str) -> None:
        """Put the session cookie on ``response`` (Secure when ``request`` came over TLS)."""
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=int(self._lifetime),
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def check_csrf(request: Request, session: Session) -> None:
    """Refuse a cookie-authenticated POST whose ``X-CSRF-Token`` is not its session's.

    Raises:
        ApiError: 403 InvalidCsrfToken.
    """
    given = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8"), session.csrf.encode("utf-8")):
        raise ApiError(
            403,
            "InvalidCsrfToken",
            f"send the page's CSRF token in the {CSRF_HEADER} header (reload the page)",
        )
