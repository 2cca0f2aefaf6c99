"""The one redis-py client factory (worker.broker.clients) on real redis-servers: a failover
and a full Redis read as outages, Sentinel follows the primary, unix sockets work."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from worker.broker.clients import redis_client
from worker.contrib.redissentinel import SentinelGroup
from worker.contrib.redisserver import PrivateRedis
from worker.errors import RedisFailoverError, RedisFullError, RedisOutageError
from worker.settings import load_settings


@pytest.fixture
def two_servers() -> Iterator[tuple[PrivateRedis, PrivateRedis]]:
    with PrivateRedis() as first, PrivateRedis() as second:
        yield first, second


def test_a_demoted_primary_is_an_outage_and_the_connection_is_dropped(
    two_servers: tuple[PrivateRedis, PrivateRedis],
) -> None:
    primary, other = two_servers
    client = redis_client(load_settings(redis_url=primary.url))
    client.set("k", "1")
    primary.client().replicaof(other.host, other.port)
    with pytest.raises(RedisFailoverError, match="READONLY"):
        client.set("k", "2")
    assert isinstance(RedisFailoverError("x"), redis.ConnectionError)  # every outage path
    primary.client().replicaof("NO", "ONE")
    assert client.set("k", "3")  # a fresh connection, on the primary again


def test_a_replica_whose_primary_is_gone_is_an_outage(
    two_servers: tuple[PrivateRedis, PrivateRedis],
) -> None:
    """``MASTERDOWN``: the endpoint names a replica that lost its primary and serves nothing."""
    node, primary = two_servers
    client = redis_client(load_settings(redis_url=node.url))
    with node.client() as admin:
        client.set("k", "1")
        admin.config_set("replica-serve-stale-data", "no")
        admin.replicaof(primary.host, primary.port)
        primary.stop()  # its port is closed now: the replica's link stays down
        with pytest.raises(RedisFailoverError, match="MASTERDOWN"):
            client.get("k")
        admin.replicaof("NO", "ONE")
        assert client.get("k") == b"1"  # a fresh connection, on a primary again
    client.close()


def test_a_blocked_pop_unblocked_by_the_role_change_is_an_outage(
    two_servers: tuple[PrivateRedis, PrivateRedis],
) -> None:
    primary, other = two_servers
    client = redis_client(load_settings(redis_url=primary.url))
    raised: list[BaseException] = []

    def pop() -> None:
        try:
            client.brpop(["queue"], timeout=10)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=pop)
    thread.start()
    time.sleep(0.3)
    primary.client().replicaof(other.host, other.port)
    thread.join(timeout=15)
    assert len(raised) == 1
    assert isinstance(raised[0], RedisFailoverError), raised[0]


def test_a_full_redis_is_an_outage_raised_at_once() -> None:
    with PrivateRedis() as server:
        client = redis_client(load_settings(redis_url=server.url))
        client.set("small", "x")
        used = int(server.client().info("memory")["used_memory"])
        server.client().config_set("maxmemory", str(used // 2))
        started = time.monotonic()
        with pytest.raises(RedisFullError, match=r"Redis is full \(maxmemory\)"):
            client.set("big", "y" * 1000)
        assert time.monotonic() - started < 0.5  # not retried with backoff
        assert client.get("small") == b"x"  # reads still answer
        assert client.delete("small") == 1  # and so do deletions
        server.client().config_set("maxmemory", "0")
        assert client.set("big", "y")


def test_other_error_replies_stay_what_they_are() -> None:
    with PrivateRedis() as server:
        client = redis_client(load_settings(redis_url=server.url))
        client.set("text", "x")
        with pytest.raises(redis.ResponseError) as caught:
            client.lpush("text", "y")
        assert not isinstance(caught.value, RedisOutageError)


def test_unix_socket_url() -> None:
    folder = Path(tempfile.mkdtemp(prefix="courier-sock-"))  # short: sun_path holds 107 bytes
    path = folder / "redis.sock"
    with PrivateRedis(extra_args=["--unixsocket", str(path)]) as server:
        client = redis_client(load_settings(redis_url=f"unix://{path}?db=1"))
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        assert server.client().dbsize() == 0  # it went to db 1
    shutil.rmtree(folder, ignore_errors=True)


def test_sentinel_client_follows_the_primary_through_a_kill() -> None:
    with SentinelGroup(
        replicas=1, sentinels=3, password="data-pw", sentinel_password="s-pw"
    ) as group:
        settings = load_settings(redis_url=group.url, redis_sentinel_password="s-pw")
        client = redis_client(settings)
        client.set("before", "1")
        group.wait_for_replicas(1)
        old = group.current_primary()
        assert old == (group.primary.host, group.primary.port)
        group.primary.stop(kill=True)
        new = group.wait_for_new_primary(old, timeout_seconds=30)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.set("after", "1")
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "no write accepted 10 s after the failover"
                time.sleep(0.2)
        assert client.connection_pool.get_master_address() == new  # type: ignore[attr-defined]
        assert group.node_at(new).client().get("after") == b"1"
        assert client.get("before") == b"1"  # replicated before the kill


def test_sentinel_without_its_password_is_refused_as_unreachable() -> None:
    with SentinelGroup(replicas=0, sentinels=1, sentinel_password="s-pw") as group:
        client = redis_client(load_settings(redis_url=group.url))
        with pytest.raises(redis.ConnectionError):
            client.ping()
