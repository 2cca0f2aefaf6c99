"""Every wrong Redis URL is named at the door, within the connect timeout (issue 18, 7-8).

Real servers throughout: a tiny TCP server of the test's own answering HTTP, one that
accepts and says nothing, a missing unix socket, a TLS-only ``redis-server`` spoken to in
clear and a plain one spoken to in TLS, a database number the server does not have, and a
real ACL user without CONFIG and INFO (``~* &* +@all -@dangerous``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.acl import add_managed_acl_user
from tests.support.certs import make_tls_files
from worker.broker.clients import redis_client
from worker.broker.door import check_eviction_policy, read_policy
from worker.contrib.redisserver import PrivateRedis, TlsFiles
from worker.errors import BrokerUnavailable, ConfigurationError, EvictingRedisError
from worker.settings import Settings, load_settings

PASSWORD = "door-s3cret-pw"
CONNECT_TIMEOUT_SECONDS = 1.5
SLACK_SECONDS = 1.5  # a loaded machine's scheduling, on top of the timeout


class _TinyServer:
    """A TCP server on a free loopback port: answers HTTP 400, or says nothing."""

    def __init__(self, *, answer: bytes | None) -> None:
        self._answer = answer
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._answer is None:
                self._held.append(conn)  # accepted, never answered
                continue
            try:
                conn.recv(65536)
                conn.sendall(self._answer)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


HTTP_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("door-tls"))


@pytest.fixture(scope="module")
def plain_redis() -> Iterator[PrivateRedis]:
    with PrivateRedis() as server:
        yield server


@pytest.fixture(scope="module")
def tls_redis(tls_files: TlsFiles) -> Iterator[PrivateRedis]:
    with PrivateRedis(tls=tls_files) as server:
        yield server


def _door(url: str, **overrides: object) -> tuple[BaseException, float]:
    settings = load_settings(
        redis_url=url, redis_connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS, **overrides
    )
    client = redis_client(settings)
    started = time.monotonic()
    try:
        with pytest.raises((BrokerUnavailable, ConfigurationError)) as caught:
            check_eviction_policy(client, settings, role="producer")
    finally:
        client.close()
    return caught.value, time.monotonic() - started


def _assert_unavailable(error: BaseException, seconds: float, *, says: str) -> None:
    assert isinstance(error, BrokerUnavailable), repr(error)
    assert PASSWORD not in str(error)
    assert PASSWORD not in error.url
    assert says in str(error), str(error)
    # One connection attempt and its handshake, not redis-py's 5 s read timeout.
    assert seconds <= CONNECT_TIMEOUT_SECONDS + SLACK_SECONDS, f"{seconds:.2f} s: {error}"


@pytest.mark.parametrize(
    ("answer", "says"),
    [(HTTP_400, "does not speak the Redis protocol"), (None, "Timeout")],
    ids=["an HTTP server", "a server that never answers"],
)
def test_something_else_on_the_port_is_named(answer: bytes | None, says: str) -> None:
    server = _TinyServer(answer=answer)
    try:
        error, seconds = _door(f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")
    finally:
        server.close()
    _assert_unavailable(error, seconds, says=says)
    assert "redis://:***@127.0.0.1:" in str(error)


def test_a_missing_unix_socket_is_broker_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "no-such.sock"
    error, seconds = _door(f"unix://:{PASSWORD}@{path}?db=0")
    _assert_unavailable(error, seconds, says=str(path))


def test_a_unix_socket_url_works(tmp_path: Path) -> None:
    path = tmp_path / "redis.sock"
    with PrivateRedis(extra_args=["--unixsocket", str(path), "--unixsocketperm", "700"]):
        url = f"unix://{path}?db=0"
        settings = load_settings(redis_url=url)
        client = redis_client(settings)
        assert check_eviction_policy(client, settings, role="producer") == "noeviction"
        client.close()


def test_a_tls_port_spoken_to_in_clear(tls_redis: PrivateRedis) -> None:
    error, seconds = _door(f"redis://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0")
    _assert_unavailable(error, seconds, says="use rediss://")


def test_a_plain_port_spoken_to_in_tls(plain_redis: PrivateRedis, tls_files: TlsFiles) -> None:
    url = (
        f"rediss://:{PASSWORD}@127.0.0.1:{plain_redis.port}/0"
        f"?ssl_cert_reqs=required&ssl_ca_certs={tls_files.ca_file}"
    )
    error, seconds = _door(url)
    _assert_unavailable(error, seconds, says="plain-text port")


def test_a_database_out_of_range_says_so(plain_redis: PrivateRedis) -> None:
    error, _ = _door(f"redis://127.0.0.1:{plain_redis.port}/99")
    assert type(error) is ConfigurationError, repr(error)
    assert "DB index is out of range" in str(error)
    assert "database 99" in str(error)
    assert "evict" not in str(error)


# --- an ACL user without CONFIG and INFO ----------------------------------------------------


def _acl_server(policy: str = "noeviction") -> PrivateRedis:
    server = PrivateRedis(maxmemory_policy=policy)
    server.start()
    add_managed_acl_user(server.url, "app", PASSWORD)
    return server


def _acl_url(server: PrivateRedis, user: str = "app") -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"


def test_an_acl_user_without_config_and_info_is_told_the_ways_out() -> None:
    server = _acl_server()
    try:
        url = _acl_url(server)
        client = redis.Redis.from_url(url)
        reading = read_policy(client)
        assert reading.policy is None, reading
        assert reading.forbidden, reading
        with pytest.raises(EvictingRedisError) as caught:
            check_eviction_policy(client, load_settings(redis_url=url), role="worker")
        message = str(caught.value)
        assert "NOPERM" in message
        assert "+config|get" in message
        assert "+info" in message
        assert "COURIER_REDIS_MAXMEMORY_POLICY=noeviction" in message
        assert PASSWORD not in message
        client.close()
    finally:
        server.close()


def test_a_declared_noeviction_lets_the_acl_user_start() -> None:
    server = _acl_server()
    try:
        url = _acl_url(server)
        client = redis.Redis.from_url(url)
        settings = load_settings(redis_url=url, redis_maxmemory_policy="noeviction")
        assert check_eviction_policy(client, settings, role="worker") is None
        client.close()
    finally:
        server.close()


def test_a_read_that_contradicts_the_declaration_still_refuses() -> None:
    server = _acl_server(policy="volatile-lru")
    try:
        admin = redis.Redis.from_url(server.url)
        # This user may read the configuration: the check runs and finds volatile-lru.
        admin.acl_setuser("app", enabled=True, commands=["+config|get"])
        admin.close()
        url = _acl_url(server)
        client = redis.Redis.from_url(url)
        settings = load_settings(redis_url=url, redis_maxmemory_policy="noeviction")
        with pytest.raises(EvictingRedisError) as caught:
            check_eviction_policy(client, settings, role="worker")
        assert "maxmemory-policy is volatile-lru" in str(caught.value)
        assert "declares noeviction" in str(caught.value)
        client.close()
    finally:
        server.close()


def test_only_noeviction_can_be_declared() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(redis_maxmemory_policy="allkeys-lru")
    assert "COURIER_REDIS_MAXMEMORY_POLICY" in str(caught.value)
    assert "only noeviction" in str(caught.value)
    assert load_settings(redis_maxmemory_policy="NoEviction").redis_maxmemory_policy == (
        "noeviction"
    )
    assert load_settings(redis_maxmemory_policy="").redis_maxmemory_policy is None


def test_settings_default_declares_nothing(settings: Settings) -> None:
    assert settings.redis_maxmemory_policy is None
