"""Browser sessions of the operators' pages (``/ui/``): login cookie and CSRF token.

A browser logs in by posting a bearer token to ``POST /ui/login``; the front checks it as
it checks an ``Authorization`` header (:mod:`worker.api.auth`) and answers with a cookie
``courier_session``:

- the cookie holds an opaque random id (32 bytes, URL-safe base64), never the token;
- the sessions live in Redis, so every replica of the front knows them (a login on one
  answers on the others; ``POST /ui/logout`` on any ends it everywhere). Redis holds only
  the SHA-256 of each cookie's id, its principal's *name* and when it ends (Redis time)::

      courier:{ui}:sessions              hash: sha256(id) -> "<expires_at> <principal>"
      courier:{ui}:principal:<name>      zset: sha256(id) -> expires_at (that principal's)

  Both expire :data:`SESSION_SECONDS` after the last login. The principal is looked up by
  name in this front's own registry at every request, so a token removed from
  COURIER_API_TOKENS(_FILE) ends its sessions at the front's next restart;
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
from typing import Any, Final

import redis
from fastapi import Request, Response

from worker.api.errors import ApiError
from worker.identity.principals import Principal
from worker.lua import NOW

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "MAX_SESSIONS_PER_PRINCIPAL",
    "SESSIONS_KEY",
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
SESSIONS_KEY: Final = "courier:{ui}:sessions"
_PRINCIPAL_KEY: Final = "courier:{ui}:principal:"

# KEYS sessions hash, the principal's zset. ARGV digest, principal name, lifetime, cap.
# Forgets the principal's ended sessions and, past the cap, its oldest; records this one.
_OPEN = (
    NOW
    + """
local t = now()
local ends = t + tonumber(ARGV[3])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', t)) do
  redis.call('HDEL', KEYS[1], old)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', t)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4]) + 1
if over > 0 then
  for i, old in ipairs(redis.call('ZPOPMIN', KEYS[2], over)) do
    if i % 2 == 1 then redis.call('HDEL', KEYS[1], old) end
  end
end
redis.call('ZADD', KEYS[2], ends, ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.6f', ends) .. ' ' .. ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])))
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[3])))
return 1
"""
)

# KEYS sessions hash. ARGV digest. The principal's name while the session lasts, or false.
_FIND = (
    NOW
    + """
local found = redis.call('HGET', KEYS[1], ARGV[1])
if not found then return false end
local space = string.find(found, ' ', 1, true)
if not space or tonumber(string.sub(found, 1, space - 1)) <= now() then return false end
return string.sub(found, space + 1)
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
        self._run(
            _OPEN,
            [SESSIONS_KEY, _PRINCIPAL_KEY + principal.name],
            [_digest(session_id), principal.name, repr(self._lifetime), MAX_SESSIONS_PER_PRINCIPAL],
        )
        return session_id, Session(principal, _csrf(session_id))

    def find(self, session_id: str | None) -> Session | None:
        """The live session of cookie value ``session_id``, or None."""
        if not session_id or len(session_id) > 128:  # ours are 43 characters
            return None
        name = self._run(_FIND, [SESSIONS_KEY], [_digest(session_id)])
        if not name:
            return None
        principal = self._principal_named(name.decode() if isinstance(name, bytes) else name)
        return None if principal is None else Session(principal, _csrf(session_id))

    def close(self, session_id: str | None) -> None:
        """Forget the session of ``session_id`` (nothing if there is none)."""
        if not session_id or len(session_id) > 128:
            return
        digest, client = _digest(session_id), self._client()
        found = client.hget(SESSIONS_KEY, digest)
        if found is None:
            return
        text = found.decode() if isinstance(found, bytes) else str(found)
        pipe = client.pipeline()
        pipe.hdel(SESSIONS_KEY, digest)
        pipe.zrem(_PRINCIPAL_KEY + text.partition(" ")[2], digest)
        pipe.execute()

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

    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        client = self._client()
        return client.register_script(script)(keys=keys, args=args, client=client)


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
