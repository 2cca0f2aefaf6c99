"""A command cut short by a signal leaves no reply unread on a pooled connection.

A CI run saw ``courier campaign start`` interrupted by SIGTERM while it stored rows, then
fail to cancel its campaign with ``ResponseError: Wrong number of response items from
pipeline execution``: the ``KeyboardInterrupt`` its signal handler raised (worker.cli
.interrupt) had landed between a pipeline's send and its replies, and redis-py put the
connection back in the pool with those replies still coming. Here a real SIGALRM, whose
handler raises ``KeyboardInterrupt`` as the CLI's does, interrupts real pipelines (MULTI
and plain) and single commands on a real Redis at random moments; after each interrupt
the same client must answer a known transaction exactly.

Without ``_DropsAbandoned`` (worker.broker.safe_client) this test fails: 208 of 1,500
interrupts left a reply unread. redis-py's own client is not run here as a control: with
its defaults (RESP3, hiredis 3.5) such a run died of a segmentation fault inside
``hiredis.pack_command`` in 2 of 8 tries, which would take pytest with it.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest
import redis

from worker.broker.clients import client_for
from worker.broker.urls import parse_redis_url
from worker.contrib.redisserver import PrivateRedis

_KEYS = [f"k{n}" for n in range(20)]
_VALUES = [f"v{n}".encode() for n in range(20)]
_INTERRUPTS = 1_500

# The alarm lands anywhere, sometimes in a pipeline's __del__ (redis-py resets it there),
# which Python reports as an unraisable KeyboardInterrupt: expected here, not a failure.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@pytest.fixture
def server() -> Iterator[PrivateRedis]:
    previous = signal.signal(signal.SIGALRM, _raise_interrupt)
    try:
        with PrivateRedis() as private:
            private.client().mset(dict(zip(_KEYS, _VALUES, strict=True)))
            yield private
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _work(client: redis.Redis, rounds: int) -> None:
    for round_ in range(rounds):
        pipe = client.pipeline(transaction=round_ % 2 == 0)
        for key in _KEYS:
            pipe.get(key)
        pipe.execute()
        client.get("k3")


def _answers_exactly(client: redis.Redis) -> bool:
    try:
        pipe = client.pipeline(transaction=True)
        for key in _KEYS:
            pipe.get(key)
        return pipe.execute() == _VALUES and client.get("k7") == b"v7"
    except Exception:  # a stale reply shows as a ResponseError or a parser's AttributeError
        return False


def _stale_after_interrupts(client: redis.Redis) -> tuple[int, int]:
    """(interrupts, times the next commands read a stale reply) over _INTERRUPTS tries."""
    started = time.perf_counter()
    _work(client, 10)
    span = (time.perf_counter() - started) / 10  # one round: the alarm lands inside it
    interrupts = stale = 0
    rng = random.Random(20261207)
    for _ in range(_INTERRUPTS):
        try:
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0, span))
            _work(client, 3)
        except KeyboardInterrupt:
            interrupts += 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        if not _answers_exactly(client):
            stale += 1
            client.connection_pool.disconnect()  # start the next try clean
    return interrupts, stale


def test_an_interrupted_command_never_leaves_a_reply_for_the_next(server: PrivateRedis) -> None:
    client = client_for(parse_redis_url(server.url), connect_timeout_seconds=5)
    try:
        interrupts, stale = _stale_after_interrupts(client)
    finally:
        client.close()
    assert interrupts > _INTERRUPTS // 2, interrupts  # the signals did land mid-command
    assert stale == 0, f"{stale} of {interrupts} interrupts left a reply unread"
