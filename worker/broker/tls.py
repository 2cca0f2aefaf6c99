"""TLS options of a ``rediss://`` URL, in the forms redis-py and Celery document.

A managed Redis with in-transit encryption (ElastiCache, Azure Cache, Memorystore) is
reached as ``rediss://user:password@host:6380/0``. redis-py reads such a URL on its own
(``redis.Redis.from_url``: TLS, certificate and host name checked against the system's
CAs). Celery does not: its result backend refuses a ``rediss://`` URL without an
``ssl_cert_reqs`` query parameter (``celery.backends.redis``, "A rediss:// URL must have
parameter ssl_cert_reqs"), and its broker takes TLS options from ``broker_use_ssl``. This
module reads the URL once and gives both the same options, so the broker, the status
store, the limiter and Flower (which reads the app's configuration) agree.

Accepted query parameters (redis-py's names; see redis-py's ``SSLConnection`` and
Celery's ``broker_use_ssl`` documentation):

* ``ssl_cert_reqs``: ``required`` (the default when absent), ``optional`` or ``none``
  (also ``CERT_REQUIRED``, ``CERT_OPTIONAL``, ``CERT_NONE``);
* ``ssl_ca_certs``: a PEM file of the CA(s) to trust instead of the system's (a private
  CA); ``ssl_certfile`` / ``ssl_keyfile``: a client certificate and key (mutual TLS).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["redis_tls_options"]

_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_required": ssl.CERT_REQUIRED,
    "cert_optional": ssl.CERT_OPTIONAL,
    "cert_none": ssl.CERT_NONE,
}
_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_TLS_SCHEMES = ("rediss", "sentinels")  # sentinels://: TLS to the sentinels and data nodes


def redis_tls_options(url: str) -> dict[str, Any] | None:
    """The TLS options of ``url``: ``None`` for ``redis://``, ``unix://`` and ``sentinel://``,
    else (``rediss://``, ``sentinels://``) a dict.

    The dict has ``ssl_cert_reqs`` (an :class:`ssl.VerifyMode`) and, when given,
    ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile`` (paths, as strings): the shape of
    Celery's ``broker_use_ssl`` and ``redis_backend_use_ssl``.

    Raises:
        ValueError: an unknown ``ssl_cert_reqs``, a parameter given twice, a named file
            that does not exist, or a key file without its certificate (the message names
            the parameter, never the URL's password).
    """
    parts = urlsplit(url)
    if parts.scheme not in _TLS_SCHEMES:
        return None
    where = f"{parts.scheme}:// URL"
    query = parse_qs(parts.query, keep_blank_values=True)
    for name, values in query.items():
        if name.startswith("ssl_") and len(values) > 1:
            raise ValueError(f"{where}: {name} is given {len(values)} times")
    reqs_text = query.get("ssl_cert_reqs", ["required"])[0]
    reqs = _CERT_REQS.get(reqs_text.lower())
    if reqs is None:
        raise ValueError(
            f"{where}: ssl_cert_reqs={reqs_text!r} is not one of required, optional, none"
        )
    options: dict[str, Any] = {"ssl_cert_reqs": reqs}
    for name in _FILES:
        if name not in query:
            continue
        path = query[name][0]
        if not Path(path).is_file():
            raise ValueError(f"{where}: {name}={path!r} is not a readable file")
        options[name] = path
    if "ssl_keyfile" in options and "ssl_certfile" not in options:
        raise ValueError(f"{where}: ssl_keyfile needs ssl_certfile (a client certificate)")
    return options
