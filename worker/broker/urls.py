"""COURIER_REDIS_URL, read in one place: one Redis endpoint, or a Sentinel set-up.

Accepted forms (DESIGN.md, "Environment"):

* ``redis://[user:password@]host:port/<db>``, ``rediss://...`` (TLS, the ``ssl_*`` query
  options of :mod:`worker.broker.tls`), ``unix:///path/to/socket?db=<db>``: one endpoint.
  A managed Redis (ElastiCache, Memorystore, Azure Cache) keeps one DNS name on the
  current primary through a failover; every new connection resolves it again.
* ``sentinel://[user:password@]host:port[,host:port...]/<service_name>[/<db>]``: Redis
  Sentinel. The sentinels are asked for the current primary of ``service_name`` (redis-py's
  :class:`redis.sentinel.Sentinel`, kombu's Sentinel transport); ``user:password`` are the
  data nodes' credentials, COURIER_REDIS_SENTINEL_PASSWORD the sentinels' own, when they
  have one (Redis documentation, "High availability with Redis Sentinel",
  ``requirepass`` / ``sentinel auth-pass``). ``sentinels://`` speaks TLS to the sentinels
  and to the data nodes, with the same ``ssl_*`` query options as ``rediss://``; a
  sentinel's port defaults to 26379.

:func:`parse_redis_url` turns the text into a :class:`RedisTarget` or raises ValueError
naming what is wrong and how to write it: no scheme at all ("COURIER_REDIS_URL has no
scheme: write redis://host:port/db ..." for ``127.0.0.1:6379``), a scheme without its two
slashes, a port that is no number from 1 to 65535 or a second ``:`` after the host. A
message never holds the URL's user information (nor its host or port, where a misplaced
password may stand): when the text cannot be split into its parts at all (most often a
password with an unencoded ``/``, ``#``, ``?`` or ``@``), it says only "COURIER_REDIS_URL
is not a valid URL (percent-encode reserved characters in the password)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from redis.connection import parse_url

from worker.broker.tls import redis_tls_options
from worker.observe.redact import mask_url

__all__ = [
    "DEFAULT_SENTINEL_PORT",
    "NOT_A_URL",
    "RedisTarget",
    "SentinelSetup",
    "parse_redis_url",
]

DEFAULT_SENTINEL_PORT = 26379
"""A sentinel's port when the URL names none (Redis documentation, Sentinel)."""

NOT_A_URL = (
    "COURIER_REDIS_URL is not a valid URL (percent-encode reserved characters in the password)"
)
"""The message for text that cannot be split into a URL's parts; it names nothing of it."""

_EXAMPLE = "redis://127.0.0.1:6379/0"
_SCHEMES = ("redis", "rediss", "unix", "sentinel", "sentinels")
_SENTINEL_SCHEMES = ("sentinel", "sentinels")
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True)
class SentinelSetup:
    """Where the sentinels are and which primary they watch.

    ``sentinels`` are ``(host, port)`` pairs in the URL's order; ``tls``: TLS to them
    (``sentinels://``); ``password``: COURIER_REDIS_SENTINEL_PASSWORD (kept out of repr).
    """

    service_name: str
    sentinels: tuple[tuple[str, int], ...]
    tls: bool
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RedisTarget:
    """One parsed COURIER_REDIS_URL.

    Attributes:
        url: the text as given (it may hold the password: show :attr:`masked` instead).
        scheme: ``redis``, ``rediss``, ``unix``, ``sentinel`` or ``sentinels``.
        db: the database number (0 to 2**31-1; the server may have fewer).
        username, password: the data nodes' credentials, percent-decoded (None: none).
        tls: the TLS options (:func:`worker.broker.tls.redis_tls_options`) or None.
        sentinel: the Sentinel set-up, or None for one endpoint.
    """

    url: str = field(repr=False)
    scheme: str
    db: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls: dict[str, Any] | None = None
    sentinel: SentinelSetup | None = None

    @property
    def masked(self) -> str:
        """The URL with its password replaced by ``***`` (for logs and messages)."""
        return mask_url(self.url)

    def kombu_url(self) -> str:
        """The broker URL kombu reads: the URL itself for one endpoint; for Sentinel one
        ``sentinel://[user:password@]host:port/<db>`` per sentinel joined by ``;`` (the form
        of kombu's ``SentinelChannel``; the service name goes in ``master_name``)."""
        if self.sentinel is None:
            return self.url
        auth = ""
        if self.password is not None or self.username is not None:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password or '', safe='')}@"
        return ";".join(
            f"sentinel://{auth}{_netloc_host(host)}:{port}/{self.db}"
            for host, port in self.sentinel.sentinels
        )

    def sentinel_kwargs(self) -> dict[str, Any]:
        """redis-py keyword arguments for the connections to the sentinels themselves
        (``Sentinel(sentinel_kwargs=...)``, kombu's ``sentinel_kwargs`` transport option):
        their password and, with ``sentinels://``, TLS with the URL's ``ssl_*`` options."""
        assert self.sentinel is not None
        kwargs: dict[str, Any] = {}
        if self.sentinel.password is not None:
            kwargs["password"] = self.sentinel.password
        if self.sentinel.tls:
            kwargs["ssl"] = True
            kwargs.update(self.tls or {})
        return kwargs


def parse_redis_url(url: str, *, sentinel_password: str | None = None) -> RedisTarget:
    """Read ``url`` (COURIER_REDIS_URL) into a :class:`RedisTarget`.

    ``sentinel_password`` is COURIER_REDIS_SENTINEL_PASSWORD (ignored without Sentinel).

    Raises:
        ValueError: the text is no URL of an accepted form; the message names the part
            that is wrong and never the user information (:data:`NOT_A_URL` when the parts
            cannot be told apart).
    """
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise ValueError(_no_scheme(text))
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(
            f"COURIER_REDIS_URL: the scheme {scheme[:20]!r} is not one of "
            "redis://, rediss://, unix://, sentinel://, sentinels://"
        )
    authority = rest.split("/", 1)[0]
    after = rest[len(authority) :]
    if "@" in after or "#" in rest:  # a password's "/", "?" or "#" cut the authority short
        raise ValueError(NOT_A_URL)
    if scheme in _SENTINEL_SCHEMES:
        return _parse_sentinel(text, scheme, sentinel_password)
    if scheme != "unix":
        _check_host_port(authority)
    try:
        options = parse_url(text)  # type: ignore[no-untyped-call]
    except ValueError:
        raise ValueError(NOT_A_URL) from None
    tls = _tls(text)
    db = int(options.get("db") or 0)
    return RedisTarget(
        url=text,
        scheme=scheme,
        db=db,
        username=options.get("username"),
        password=options.get("password"),
        tls=tls,
    )


def _no_scheme(text: str) -> str:
    """The message for text without ``://``: most often ``host:port`` with no scheme.

    It quotes nothing of the text (``user:password`` looks like ``host:port``)."""
    if any(text.lower().startswith(f"{scheme}:") for scheme in _SCHEMES):
        return (
            "COURIER_REDIS_URL: the scheme needs two slashes: write redis://host:port/db "
            f"(for example {_EXAMPLE})"
        )
    return (
        f"COURIER_REDIS_URL has no scheme: write redis://host:port/db (for example {_EXAMPLE}), "
        "rediss:// for TLS, unix:///path/to/socket, or "
        "sentinel://host:port[,host:port...]/<service_name>"
    )


def _check_host_port(authority: str) -> None:
    """Refuse a ``redis://`` or ``rediss://`` host and port that redis-py would misread or
    refuse later. The message quotes neither (a misplaced password may stand there)."""
    host_port = authority.rpartition("@")[2].split("?", 1)[0]
    if not host_port:
        return  # redis-py's default: localhost:6379
    match = _HOST.match(host_port)
    if match is not None:
        port = match.group("port")
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(
                "COURIER_REDIS_URL: the port is not from 1 to 65535: write "
                f"redis://host:port/db (for example {_EXAMPLE})"
            )
        return
    if host_port.startswith("[") or host_port.count(":") > 1:
        problem = (
            "more than one ':' after the host (one port only; an IPv6 address goes in "
            "brackets: redis://[::1]:6379/0)"
        )
    elif ":" in host_port and not host_port.rpartition(":")[2].isdigit():
        problem = "the port after the host is not a number"
    else:
        problem = "the host is not a host name or an IP address"
    raise ValueError(
        f"COURIER_REDIS_URL: {problem}: write redis://host:port/db (for example {_EXAMPLE})"
    )


def _parse_sentinel(text: str, scheme: str, sentinel_password: str | None) -> RedisTarget:
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError(NOT_A_URL) from None
    userinfo, at, hosts_text = parts.netloc.rpartition("@")
    username = password = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    sentinels = tuple(_sentinel_address(item) for item in hosts_text.split(","))
    path = [unquote(piece) for piece in parts.path.split("/")[1:]]
    if not path or not path[0]:
        raise ValueError(
            "COURIER_REDIS_URL: a sentinel:// URL needs the service name after the hosts "
            "(sentinel://host:26379,host:26380/<service_name>[/<db>])"
        )
    if len(path) > 2 or (len(path) == 2 and not path[1]):
        raise ValueError(
            "COURIER_REDIS_URL: a sentinel:// URL's path is /<service_name>[/<db>], "
            f"not {len(path)} parts"
        )
    service = path[0]
    if not _SERVICE_NAME.match(service):
        raise ValueError(
            "COURIER_REDIS_URL: the Sentinel service name must be 1-128 letters, digits, "
            "'.', '_' or '-'"
        )
    db = 0
    if len(path) == 2:
        if not path[1].isdigit() or int(path[1]) > 2**31 - 1:
            raise ValueError(
                f"COURIER_REDIS_URL: the database {path[1][:20]!r} is not a number from 0"
            )
        db = int(path[1])
    tls = _tls(text) if scheme == "sentinels" else None
    if tls is None and parts.query:
        raise ValueError(
            "COURIER_REDIS_URL: a sentinel:// URL takes no query options "
            "(ssl_* options go with sentinels://)"
        )
    setup = SentinelSetup(
        service_name=service, sentinels=sentinels, tls=tls is not None, password=sentinel_password
    )
    return RedisTarget(
        url=text,
        scheme=scheme,
        db=db,
        username=username,
        password=password,
        tls=tls,
        sentinel=setup,
    )


def _sentinel_address(item: str) -> tuple[str, int]:
    match = _HOST.match(item.strip())
    if match is None:
        raise ValueError(
            "COURIER_REDIS_URL: each sentinel is host:port (or [v6 address]:port), "
            "separated by commas; one is not"
        )
    host = match.group("v6") or match.group("name")
    port = int(match.group("port") or DEFAULT_SENTINEL_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"COURIER_REDIS_URL: sentinel port {port} is not from 1 to 65535")
    return host, port


def _tls(text: str) -> dict[str, Any] | None:
    try:
        return redis_tls_options(text)
    except ValueError as exc:
        raise ValueError(f"COURIER_REDIS_URL: {exc}") from None


def _netloc_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
