"""A message popped while Redis refuses writes is held and put back at the head of its
queue (worker.broker.transport), never lost between BRPOP and the unacked record."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kombu import Connection

from worker.broker import transport
from worker.broker.clients import client_for
from worker.broker.transport import HELD_WHILE_FULL, Transport, restore_held
from worker.broker.urls import parse_redis_url
from worker.contrib.redisserver import PrivateRedis
from worker.errors import RedisFullError


def test_a_message_whose_unacked_record_is_refused_is_held_then_restored_first() -> None:
    HELD_WHILE_FULL.clear()
    with PrivateRedis() as server:
        conn = Connection(server.url, transport=Transport)
        kombu_transport: Any = conn.transport  # kombu's virtual transport, untyped

        def refused(message: object) -> None:
            raise RedisFullError("Redis is full (maxmemory): it refuses writes (OOM)")

        kombu_transport._callbacks = {"interactive": refused}
        payload = {"body": "b", "properties": {"delivery_tag": "t1"}}
        with pytest.raises(RedisFullError):
            kombu_transport._deliver(payload, "interactive")
        assert [("interactive", payload)] == HELD_WHILE_FULL

        client = server.client()
        client.lpush("interactive", json.dumps({"later": True}))
        assert restore_held(client) == 1
        assert HELD_WHILE_FULL == []
        _, first = client.brpop(["interactive"], timeout=1)  # type: ignore[misc]
        assert json.loads(first) == payload  # the held one is taken next
        conn.release()
    assert transport.HELD_WHILE_FULL is HELD_WHILE_FULL


def test_restore_keeps_what_redis_refused() -> None:
    HELD_WHILE_FULL.clear()
    HELD_WHILE_FULL.append(("interactive", {"n": 1}))
    with PrivateRedis() as server:
        client = server.client()
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", str(used // 2))
        guarded = client_for(parse_redis_url(server.url), connect_timeout_seconds=1)
        with pytest.raises(RedisFullError):
            restore_held(guarded)
        assert HELD_WHILE_FULL == [("interactive", {"n": 1})]
        client.config_set("maxmemory", "0")
        assert restore_held(guarded) == 1
    HELD_WHILE_FULL.clear()


@pytest.mark.parametrize("transaction", [True, False], ids=["multi", "pipeline"])
def test_a_pipeline_refused_by_a_full_redis_leaves_no_reply_for_the_next_command(
    transaction: bool,
) -> None:
    """The connection a refused pipeline used is dropped with its unread replies: the next
    command reads its own answer (before the fix: EXECABORT, then a stale OOM)."""
    with PrivateRedis() as server:
        client = client_for(parse_redis_url(server.url), connect_timeout_seconds=2)
        admin = server.client()
        try:
            client.set("before", "1")
            admin.config_set("maxmemory", str(int(admin.info("memory")["used_memory"]) // 2))
            pipe = client.pipeline(transaction=transaction)
            pipe.set("a", "1")
            pipe.get("before")
            pipe.hset("h", "x", "1")
            with pytest.raises(RedisFullError):
                pipe.execute()
            admin.config_set("maxmemory", "0")
            answers = [client.set("after", str(n)) for n in range(3)]
            assert answers == [True, True, True]
            assert client.get("before") == b"1"
        finally:
            admin.close()
            client.close()
