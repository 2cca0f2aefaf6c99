"""Browser sessions of the operators' pages (``/ui/``): login cookie and CSRF token.

A browser logs in by posting a bearer token to ``POST /ui/login``; the front checks it as
it checks an ``Authorization`` header (:mod:`worker.api.auth`) and answers with a cookie
``courier_session``:

- the cookie holds an opaque random id (32 bytes, URL-safe base64), never the token;
- the sessions live in Redis, so every replica of the front knows them (a login on one
  answers on the others; ``POST /ui/logout`` on any ends it everywhere). Redis holds only
  the SHA-256 of each cookie's id, its principal's *name* and a fingerprint of the token
  that logged in (a SHA-256 of the token's SHA-256), each session under its own key that
  Redis expires on its own clock::

      courier:{ui}:session:<sha256(id)>   string: "<fingerprint> <principal>", PX lifetime
      courier:{ui}:principal:<name>       zset: sha256(id) -> end (that principal's sessions)

  At every request the principal is looked up by name in this front's own registry and
  must still hold the token that logged in: a token rotated or removed from
  COURIER_API_TOKENS(_FILE) ends its sessions once the front runs with the new list;
- ``HttpOnly``, ``SameSite=Strict``, ``Path=/ui``, ``Max-Age`` :data:`SESSION_SECONDS`,
  and ``Secure`` when the request came over TLS (``https``);
- each session has a CSRF token, an HMAC-SHA256 of the cookie's id (so it is stored
  nowhere and every replica derives the same one), written into every page it is served
  (``<meta name="csrf-token">``); a ``POST`` from the page (pause, resume, cancel,
  logout) must send it back in the ``X-CSRF-Token`` header, or it answers
  ``403 InvalidCsrfToken``. A request carrying ``Authorization: Bearer`` needs no CSRF
  token: a browser never adds that header by itself.

A session lasts :data:`SESSION_SECONDS` from login, or until ``POST /ui/logout``. One
principal keeps at most :data:`MAX_SESSIONS_PER_PRINCIPAL`; a login past it forgets that
principal's oldest, so no principal can push out another's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import redis
from fastapi import Request, Response

from worker.api.errors import ApiError
from worker.identity.principals import Principal
from worker.lua import NOW

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "MAX_SESSIONS_PER_PRINCIPAL",
    "SESSION_KEY_PREFIX",
    "SESSION_SECONDS",
    "Session",
    "SessionStore",
    "check_csrf",
]

COOKIE: Final = "courier_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SESSION_SECONDS: Final = 8 * 3600
"""How long a login lasts, seconds."""
MAX_SESSIONS_PER_PRINCIPAL: Final = 32
"""Sessions one principal keeps at most; a new login past it forgets that principal's
oldest. A principal can so never push another's sessions out (10,000 logins with one
resend-only token logged every operator out before this cap)."""
SESSION_KEY_PREFIX: Final = "courier:{ui}:session:"
_PRINCIPAL_KEY: Final = "courier:{ui}:principal:"

# KEYS the principal's zset, the new session's key. ARGV digest, value, lifetime (s), cap,
# session key prefix. Forgets the principal's ended sessions and, past the cap, its oldest
# (their keys are in the same hash slot, {ui}); records this one.
_OPEN = (
    NOW
    + """
local t = now()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4]) + 1
if over > 0 then
  for i, old in ipairs(redis.call('ZPOPMIN', KEYS[1], over)) do
    if i % 2 == 1 then redis.call('DEL', ARGV[5] .. old) end
  end
end
local lifetime = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], t + lifetime, ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', math.ceil(lifetime * 1000))
redis.call('EXPIRE', KEYS[1], math.ceil(lifetime))
return 1
"""
)


@dataclass(frozen=True)
class Session:
    """One logged-in browser.

    Attributes:
        principal: the API principal whose token logged in.
        csrf: the token the page's POSTs must carry (``X-CSRF-Token``).
    """

    principal: Principal
    csrf: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _fingerprint(principal: Principal) -> str:
    """Which token logged in: a SHA-256 of its SHA-256 (the registry's), 32 hex digits."""
    return hashlib.sha256(f"courier-ui-session {principal.sha256}".encode()).hexdigest()[:32]


def _csrf(session_id: str) -> str:
    mac = hmac.new(session_id.encode("utf-8"), b"courier-ui-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


class SessionStore:
    """The sessions of every front replica, in Redis (see the module).

    Args:
        client: the Redis client, asked for at each use (the per-process runtime's).
        principal_named: this front's principal of a name, or None (no longer configured).
        lifetime_seconds: how long a login lasts.

    Every method raises ``redis.RedisError`` when Redis fails (the front answers 503).
    """

    def __init__(
        self,
        client: Callable[[], redis.Redis],
        principal_named: Callable[[str], Principal | None],
        *,
        lifetime_seconds: float = SESSION_SECONDS,
    ) -> None:
        if lifetime_seconds <= 0:
            raise ValueError(f"lifetime_seconds must be > 0, got {lifetime_seconds!r}")
        self._client = client
        self._principal_named = principal_named
        self._lifetime = lifetime_seconds

    def open(self, principal: Principal) -> tuple[str, Session]:
        """A new session for ``principal``: ``(cookie value, session)``."""
        session_id = secrets.token_urlsafe(32)
        digest, client = _digest(session_id), self._client()
        client.register_script(_OPEN)(
            keys=[_PRINCIPAL_KEY + principal.name, SESSION_KEY_PREFIX + digest],
            args=[
                digest,
                f"{_fingerprint(principal)} {principal.name}",
                repr(self._lifetime),
                MAX_SESSIONS_PER_PRINCIPAL,
                SESSION_KEY_PREFIX,
            ],
            client=client,
        )
        return session_id, Session(principal, _csrf(session_id))

    def find(self, session_id: str | None) -> Session | None:
        """The live session of cookie value ``session_id``, or None (none, ended, or its
        principal no longer holds the token that logged in)."""
        found = self._lookup(session_id)
        if found is None:
            return None
        fingerprint, name = found
        principal = self._principal_named(name)
        if principal is None or not hmac.compare_digest(_fingerprint(principal), fingerprint):
            return None
        assert session_id is not None
        return Session(principal, _csrf(session_id))

    def close(self, session_id: str | None) -> None:
        """Forget the session of ``session_id`` (nothing if there is none). Plain
        deletions, no MULTI: a full Redis (noeviction) still lets a logout through."""
        found = self._lookup(session_id)
        if found is None or session_id is None:
            return
        digest = _digest(session_id)
        pipe = self._client().pipeline(transaction=False)
        pipe.delete(SESSION_KEY_PREFIX + digest)
        pipe.zrem(_PRINCIPAL_KEY + found[1], digest)
        pipe.execute()

    def _lookup(self, session_id: str | None) -> tuple[str, str] | None:
        """``(fingerprint, principal name)`` of a live session, or None."""
        if not session_id or len(session_id) > 128:  # ours are 43 characters
            return None
        value = self._client().get(SESSION_KEY_PREFIX + _digest(session_id))
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        fingerprint, _, name = text.partition(" ")
        return (fingerprint, name) if name else None

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
