"""Masking secrets out of text meant for people: Redis URLs, request paths.

One place for it, so every log line, error message and printed document masks the same
way:

* :func:`mask_url` - a URL with its password (in the authority or a ``password=`` query
  parameter) replaced by ``***``; user names, hosts, ports and databases stay readable;
* :func:`mask_urls_in` - every URL with credentials inside a longer text (an exception
  message, a log line) masked the same way;
* :func:`short_path` - a request path cut to a bounded length, for logs of requests whose
  path matched no route (a pasted AccessToken must not reach a log in full).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["MASK", "mask_url", "mask_urls_in", "short_path"]

MASK = "***"

# A URL with a scheme and an authority (``scheme://...``) up to the next blank or quote.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_HOSTS = re.compile(r"^[A-Za-z0-9.\[\]:_-]+(?:,[A-Za-z0-9.\[\]:_-]+)*$")
_SECRET_QUERY_NAMES = frozenset({"password", "pass", "pwd", "token", "secret"})


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user names stay: they are not secret).

    >>> mask_url("rediss://app:s3cret@cache.internal:6380/0?ssl_cert_reqs=required")
    'rediss://app:***@cache.internal:6380/0?ssl_cert_reqs=required'
    >>> mask_url("redis://localhost:6379/0?password=s3cret")
    'redis://localhost:6379/0?password=***'

    A string that is not a URL comes back unchanged.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
        port = parts.port
    except ValueError:  # several hosts (Sentinel), a malformed port or IPv6 literal
        return _mask_several_hosts(url)
    netloc = parts.netloc
    if password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:{MASK}@{host}{f':{port}' if port is not None else ''}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name.lower() in _SECRET_QUERY_NAMES for name, _ in pairs):
            masked = [(n, MASK if n.lower() in _SECRET_QUERY_NAMES else v) for n, v in pairs]
            query = urlencode(masked, safe="*/")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _mask_several_hosts(url: str) -> str:
    """``sentinel://user:pw@h1:1,h2:2/name`` -> ``sentinel://user:***@h1:1,h2:2/name``;
    anything else that urlsplit cannot read keeps nothing after the scheme."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if sep and "," in hosts and _HOSTS.match(hosts) and "@" not in path:
        user = userinfo.partition(":")[0] if at else ""
        credentials = f"{user}:{MASK}@" if at else ""
        return f"{scheme}{sep}{credentials}{hosts}{slash}{path}"
    return f"{scheme}{sep}{MASK}" if sep else url


def mask_urls_in(text: str) -> str:
    """``text`` with every URL in it passed through :func:`mask_url`."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: mask_url(match.group(0)), text)


def short_path(path: str, *, keep: int = 32) -> str:
    """``path`` itself when short, else its first ``keep`` characters and its length.

    >>> short_path("/jobs/1234")
    '/jobs/1234'
    >>> short_path("/" + "x" * 1000)
    '/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...(1001 chars)'
    """
    if len(path) <= keep:
        return path
    return f"{path[:keep]}...({len(path)} chars)"
