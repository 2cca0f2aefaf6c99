"""kombu's Redis channel makes its synchronous client once per pool (worker.broker.transport).

kombu 5.7.0 builds a new ``redis.Redis`` for every acknowledgement and every published event;
the channel here keeps one per pool. Real Redis, real kombu publishing and acknowledging.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
import redis
from kombu import Connection, Exchange, Queue

from worker.broker.transport import Transport
from worker.contrib.redisserver import PrivateRedis

MESSAGES = 40


@pytest.fixture
def constructions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many ``redis.Redis`` objects were built (a list of one counter)."""
    count = [0]
    original = redis.Redis.__init__

    def counting(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        count[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    return count


def _round_trip(conn: Connection, queue: Queue, messages: int, *, threads: int = 1) -> int:
    """Publish ``messages``, take them, acknowledge them from ``threads`` threads."""
    with conn.Producer() as producer:
        for n in range(messages):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key="q", declare=[queue])
    taken: list[Any] = []
    simple = conn.SimpleQueue(cast("str", queue))  # kombu takes a Queue too; typed as str
    for _ in range(messages):
        taken.append(simple.get(timeout=5))
    chunks = [taken[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=lambda c=c: [m.ack() for m in c]) for c in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    simple.close()
    return len(taken)


def test_acks_and_publishes_share_one_client_per_pool(constructions: list[int]) -> None:
    with PrivateRedis() as server:
        conn = Connection(server.url, transport=Transport)
        queue = Queue("q", Exchange("q"), routing_key="q")
        _round_trip(conn, queue, 2)  # the channel's pools and clients made
        before = constructions[0]
        assert _round_trip(conn, queue, MESSAGES, threads=8) == MESSAGES
        # kombu 5.7.0 alone: one per publish and one per ack (>= 2 x MESSAGES)
        assert constructions[0] - before <= 2, constructions[0] - before
        channel: Any = conn.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        channel._disconnect_pools()  # as after a connection loss: a new pool, a new client
        second = channel._create_client()
        assert second is not first
        assert second.connection_pool is channel.pool
        assert _round_trip(conn, queue, 5) == 5
        assert server.client().llen("q") == 0
        conn.release()
