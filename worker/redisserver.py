"""A private ``redis-server`` on a free loopback port, in a temporary folder of its own.

Used by ``courier demo`` (an embedded default: no Redis needed on the machine), by the
test suite and by the benchmarks, so none of them ever touches a database they did not
create. The server is the real ``redis-server`` (Lua, keyspace and Celery's transport
behave exactly as in production); fakeredis is no substitute here.

    with PrivateRedis() as server:          # started, answering PING
        server.url                          # "redis://127.0.0.1:<port>/0"
        server.stop(); server.start()       # a restart on the same port and data folder
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from worker.errors import ConfigurationError

__all__ = ["PrivateRedis", "find_redis_server", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary.

    Raises:
        ConfigurationError: none is on PATH.
    """
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigurationError(
            "no redis-server binary on PATH: install one (apt-get install redis-server) "
            "or point COURIER_REDIS_URL at a running Redis"
        )
    return found


class PrivateRedis:
    """One ``redis-server`` process owned by this object.

    Args:
        appendonly: keep an AOF (``appendfsync always``) so a restart keeps every key.
        maxmemory_policy: the server's ``maxmemory-policy`` (``noeviction`` by default).
        extra_args: more ``redis-server`` arguments, e.g. ``["--maxmemory", "64mb"]``.
        start_timeout_seconds: how long :meth:`start` waits for PING.
    """

    def __init__(
        self,
        *,
        appendonly: bool = False,
        maxmemory_policy: str = "noeviction",
        extra_args: list[str] | None = None,
        start_timeout_seconds: float = 10.0,
    ) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self._appendonly = appendonly
        self._maxmemory_policy = maxmemory_policy
        self._extra_args = list(extra_args or [])
        self._start_timeout_seconds = start_timeout_seconds
        self._dir = Path(tempfile.mkdtemp(prefix="courier-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def directory(self) -> Path:
        """The server's working folder (AOF, log)."""
        return self._dir

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
        args = [
            find_redis_server(),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self._dir),
            "--save", "",
            "--appendonly", "yes" if self._appendonly else "no",
            "--appendfsync", "always",
            "--maxmemory-policy", self._maxmemory_policy,
            "--logfile", str(self._dir / "redis.log"),
            "--daemonize", "no",
            *self._extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self._start_timeout_seconds
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5)
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

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (an orderly shutdown) or, with ``kill``, SIGKILL."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

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
