"""An acknowledgement refused by a failover waits for a primary and lands (one line each way).

Celery acknowledges a finished task (``task_acks_late``) with kombu's ``basic_ack``: on
Redis, ZREM + HDEL of the unacknowledged record. During a failover the old primary
answers ``READONLY``; kombu's own ack raised, Celery logged ``CRITICAL Couldn't ack`` with
a traceback, and the message came back after the visibility timeout to be run again.
Here, on real ``redis-server`` processes and this project's transport
(worker/broker/transport.py): a message is taken, its primary is demoted (``REPLICAOF``
the other node, promoted first), and promoted back 1.5 s later; the ack in between waits,
then lands: the unacknowledged record is gone, one WARNING said the wait began and one
that it ended. And a channel closed under a running task (what kombu does when the
connection is lost) gives back only the messages not started, keeping the running one's
unacknowledged until its task acknowledges it (worker.broker.transport.RunningKeptQoS).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest
from kombu import Connection

from worker.broker.transport import Transport
from worker.contrib.redisserver import PrivateRedis

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(60)]


def test_an_ack_refused_by_a_demoted_primary_waits_and_lands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with PrivateRedis() as old, PrivateRedis(replica_of=old) as new:
        primary = old.client()
        with Connection(old.url, transport=Transport) as conn:
            queue: Any = conn.SimpleQueue("interactive")
            queue.put({"n": 1})
            message = queue.get(timeout=5)
            assert primary.hlen("unacked") == 1
            primary.wait(1, 2000)  # the other node has the unacked record too
            new.client().replicaof("NO", "ONE")
            primary.replicaof(new.host, new.port)  # READONLY from now on

            def promote_back() -> None:
                time.sleep(1.5)
                primary.replicaof("NO", "ONE")

            thread = threading.Thread(target=promote_back)
            thread.start()
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="worker"):
                message.ack()  # refused at first: waits for a primary, then acknowledges
            waited = time.monotonic() - started
            thread.join()
            queue.close()
        assert primary.hlen("unacked") == 0
        assert primary.zcard("unacked_index") == 0
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("worker")]
    assert sum("acknowledging a message: Redis is unreachable" in m for m in lines) == 1, lines
    assert sum("acknowledging a message: Redis answers again" in m for m in lines) == 1, lines
    assert 1.0 <= waited <= 30, waited


class _Running:
    """Stands for a Celery request being executed (what celery.worker.state tracks)."""

    def __init__(self, message: Any) -> None:
        self.message = message


def test_a_channel_closed_under_a_running_task_keeps_its_message_unacknowledged() -> None:
    from celery.worker import state

    with PrivateRedis() as server:
        client = server.client()
        with Connection(server.url, transport=Transport) as conn:
            queue: Any = conn.SimpleQueue("interactive")
            queue.put({"n": "running"})
            queue.put({"n": "prefetched"})
            running, prefetched = queue.get(timeout=5), queue.get(timeout=5)
            assert client.hlen("unacked") == 2
            request = _Running(running)
            state.active_requests.add(request)
            try:
                queue.channel.qos.restore_unacked()  # what kombu does as the channel closes
            finally:
                state.active_requests.discard(request)
            assert client.llen("interactive") == 1  # only the one not started is back
            assert client.hlen("unacked") == 1  # the running one stays until it is acked
            back = client.lindex("interactive", 0)
            assert isinstance(back, bytes)
            assert json.loads(back)["body"]  # a kombu envelope
            running.ack()
            assert client.hlen("unacked") == 0
            del prefetched
            queue.close()
