"""Private Redis Sentinel set-ups: a primary, its replicas and real sentinels, on loopback.

Beside :mod:`worker.contrib.redisserver` (whose :class:`PrivateRedis` starts the data
nodes, ``replica_of=`` making replicas), for the tests and benchmarks of failovers. The
sentinels are real: ``redis-server <conf> --sentinel`` (Redis documentation, "High
availability with Redis Sentinel"), each with its own folder and config file, which it
rewrites as it learns the set-up.

    with SentinelGroup(replicas=1, sentinels=3) as group:
        group.url                 # "sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/courier/0"
        group.primary.stop(kill=True)
        group.wait_for_new_primary(timeout_seconds=15)
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis

from worker.contrib.processes import stop_process
from worker.contrib.redisserver import PrivateRedis, find_redis_server, free_port
from worker.errors import ConfigurationError

__all__ = ["PrivateSentinel", "SentinelGroup"]


class PrivateSentinel:
    """One ``redis-server --sentinel`` process watching ``primary`` as ``service_name``.

    Args:
        primary: the data node to monitor (its credentials become ``auth-user``/``auth-pass``).
        service_name: the name clients ask for (``sentinel://.../<service_name>``).
        quorum: sentinels that must agree the primary is down before a failover.
        down_after_milliseconds: how long without an answer makes the primary down.
        failover_timeout_milliseconds: Sentinel's ``failover-timeout``.
        password: the sentinel's own ``requirepass`` (COURIER_REDIS_SENTINEL_PASSWORD).
    """

    def __init__(
        self,
        primary: PrivateRedis,
        *,
        service_name: str = "courier",
        quorum: int = 2,
        down_after_milliseconds: int = 1000,
        failover_timeout_milliseconds: int = 5000,
        password: str | None = None,
        start_timeout_seconds: float = 10.0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.service_name = service_name
        self._primary = primary
        self._quorum = quorum
        self._down_after = down_after_milliseconds
        self._failover_timeout = failover_timeout_milliseconds
        self._password = password
        self._start_timeout_seconds = start_timeout_seconds
        self._dir = Path(tempfile.mkdtemp(prefix="courier-sentinel-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def pid(self) -> int | None:
        """The sentinel's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def _write_config(self) -> None:
        name = self.service_name
        primary = self._primary
        lines = [
            f"port {self.port}",
            f"bind {self.host}",
            f"dir {self._dir}",
            f"logfile {self._dir / 'sentinel.log'}",
            f"sentinel monitor {name} {primary.host} {primary.port} {self._quorum}",
            f"sentinel down-after-milliseconds {name} {self._down_after}",
            f"sentinel failover-timeout {name} {self._failover_timeout}",
            f"sentinel parallel-syncs {name} 1",
        ]
        if primary.password is not None:
            if primary.username is not None:
                lines.append(f"sentinel auth-user {name} {primary.username}")
            lines.append(f'sentinel auth-pass {name} "{primary.password}"')
        if self._password is not None:
            lines += [
                f'requirepass "{self._password}"',
                f'sentinel sentinel-pass "{self._password}"',
            ]
        config = self._dir / "sentinel.conf"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        config.chmod(0o600)

    def client(self) -> redis.Redis:
        """A redis-py client on this sentinel (SENTINEL commands)."""
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self._password,
            socket_connect_timeout=1,
            socket_timeout=5,
        )

    def start(self) -> None:
        """Start the sentinel (same port, same config) and wait until it answers PING.

        Raises:
            ConfigurationError: no redis-server binary, or it did not answer in time.
        """
        if self._process is not None and self._process.poll() is None:
            return
        binary = self._primary.binary or find_redis_server()
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
            [binary, str(self._dir / "sentinel.conf"), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._start_timeout_seconds
        client = self.client()
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ConfigurationError(
                        f"private sentinel on port {self.port} did not start "
                        f"(log: {self._dir / 'sentinel.log'})"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def primary_address(self) -> tuple[str, int] | None:
        """The primary this sentinel names now, or None when it cannot say."""
        client = self.client()
        try:
            answer: Any = client.sentinel_get_master_addr_by_name(self.service_name)
        except redis.RedisError:
            return None
        finally:
            client.close()
        if not answer:
            return None
        host, port = answer
        return (host.decode() if isinstance(host, bytes) else str(host)), int(port)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the sentinel: SIGTERM or, with ``kill``, SIGKILL."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, kill=kill)

    def close(self) -> None:
        """Stop the sentinel and remove its folder."""
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._dir)


class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels, started together.

    Args:
        replicas: replicas of the primary (at least 1 for a failover to have a target).
        sentinels: sentinels (3 for a quorum of 2, the documented minimum set-up).
        down_after_milliseconds: Sentinel's ``down-after-milliseconds``.
        password: the data nodes' password (in :attr:`url`), None for none.
        sentinel_password: the sentinels' own password (not in the URL).
        appendonly: the data nodes keep an AOF.
    """

    def __init__(
        self,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        service_name: str = "courier",
        down_after_milliseconds: int = 1000,
        password: str | None = None,
        sentinel_password: str | None = None,
        appendonly: bool = False,
    ) -> None:
        self.service_name = service_name
        self.primary = PrivateRedis(password=password, appendonly=appendonly)
        self.replicas = [
            PrivateRedis(password=password, appendonly=appendonly, replica_of=self.primary)
            for _ in range(replicas)
        ]
        self.sentinels = [
            PrivateSentinel(
                self.primary,
                service_name=service_name,
                quorum=sentinels // 2 + 1,
                down_after_milliseconds=down_after_milliseconds,
                password=sentinel_password,
            )
            for _ in range(sentinels)
        ]
        self._password = password

    @property
    def nodes(self) -> list[PrivateRedis]:
        """Every data node: the first primary, then the replicas (roles change on failover)."""
        return [self.primary, *self.replicas]

    @property
    def url(self) -> str:
        """``sentinel://[:password@]host:port,.../<service_name>/0`` (COURIER_REDIS_URL)."""
        auth = f":{quote(self._password, safe='')}@" if self._password is not None else ""
        hosts = ",".join(f"{s.host}:{s.port}" for s in self.sentinels)
        return f"sentinel://{auth}{hosts}/{self.service_name}/0"

    def start(self) -> None:
        """Start the data nodes, wait for the replicas' link, then the sentinels."""
        for node in self.nodes:
            node.start()
        self.wait_for_replicas(len(self.replicas))
        for sentinel in self.sentinels:
            sentinel.start()

    def wait_for_replicas(self, count: int, *, timeout_seconds: float = 15.0) -> None:
        """Wait until the primary reports ``count`` replicas in sync (``connected_slaves``)."""
        client = self.primary.client()
        deadline = time.monotonic() + timeout_seconds
        try:
            while True:
                with contextlib.suppress(redis.RedisError):
                    info = client.info("replication")
                    online = sum(
                        1
                        for k, v in info.items()
                        if k.startswith("slave")
                        and isinstance(v, dict)
                        and v.get("state") == "online"
                    )
                    if online >= count:
                        return
                if time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"{count} replica(s) did not sync in {timeout_seconds} s"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def current_primary(self) -> tuple[str, int] | None:
        """The primary the first sentinel that answers names, or None."""
        for sentinel in self.sentinels:
            address = sentinel.primary_address()
            if address is not None:
                return address
        return None

    def node_at(self, address: tuple[str, int]) -> PrivateRedis:
        """The data node listening at ``address``."""
        for node in self.nodes:
            if (node.host, node.port) == address:
                return node
        raise KeyError(address)

    def wait_for_new_primary(
        self, old: tuple[str, int], *, timeout_seconds: float = 30.0
    ) -> tuple[str, int]:
        """Wait until every running sentinel names a primary other than ``old``; returns it.

        Raises:
            TimeoutError: no failover within ``timeout_seconds``.
        """
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            seen = {s.primary_address() for s in self.sentinels if s.pid is not None}
            if len(seen) == 1 and (found := seen.pop()) not in (None, old):
                assert found is not None
                return found
            time.sleep(0.1)
        raise TimeoutError(f"no new primary within {timeout_seconds} s")

    def close(self) -> None:
        """Stop everything and remove every folder."""
        for sentinel in self.sentinels:
            sentinel.close()
        for node in self.nodes:
            node.close()

    def __enter__(self) -> SentinelGroup:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
