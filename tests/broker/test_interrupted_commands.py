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
interrupts left a reply unread. Each storm runs in a process of its own: an interrupt that
lands inside the standard library can leave a process-wide lock held (seen: logging's
module lock, taken by ``logging.getLogger`` before its ``try``, which redis-py calls at
every connect), and every other thread of that process then blocks on it, which in
pytest's own process hung the tests that came after.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from types import FrameType

import pytest
import redis

from tests.support.processes import ROOT
from worker.broker.clients import client_for
from worker.broker.urls import parse_redis_url
from worker.contrib.redissentinel import SentinelGroup
from worker.contrib.redisserver import PrivateRedis

_KEYS = [f"k{n}" for n in range(20)]
_VALUES = [f"v{n}".encode() for n in range(20)]
_INTERRUPTS = 1_500


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _work(client: redis.Redis, rounds: int) -> None:
    for round_ in range(rounds):
        pipe = client.pipeline(transaction=round_ % 2 == 0)
        for key in _KEYS:
            pipe.get(key)
        pipe.execute()
        client.get("k3")
        with client.pipeline() as watched:  # WATCH, then MULTI; UNWATCH on the way out
            watched.watch("k1")  # type: ignore[no-untyped-call]
            watched.get("k1")
            watched.multi()
            watched.get("k2")
            watched.execute()


def _answers_exactly(client: redis.Redis) -> bool:
    try:
        pipe = client.pipeline(transaction=True)
        for key in _KEYS:
            pipe.get(key)
        return pipe.execute() == _VALUES and client.get("k7") == b"v7"
    except Exception:  # a stale reply shows as a ResponseError or a parser's AttributeError
        return False


def _stale_after_interrupts(client: redis.Redis, *, fresh: bool) -> tuple[int, int]:
    """(interrupts, times the next commands read a stale reply) over _INTERRUPTS tries;
    ``fresh``: every try starts on a new connection, so signals land in handshakes too."""
    client.mset(dict(zip(_KEYS, _VALUES, strict=True)))
    started = time.perf_counter()
    for _ in range(10):
        if fresh:
            client.connection_pool.disconnect()
        _work(client, 1)
    span = (time.perf_counter() - started) / 10  # one round: the alarm lands inside it
    interrupts = stale = 0
    rng = random.Random(20261207)
    for _ in range(_INTERRUPTS):
        if fresh:
            client.connection_pool.disconnect()
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


def storm(url: str, fresh: str) -> None:
    """The child's part (``python -c``): print "<interrupts> <stale>" for ``url``."""
    signal.signal(signal.SIGALRM, _raise_interrupt)
    client = client_for(parse_redis_url(url), connect_timeout_seconds=5)
    try:
        interrupts, stale = _stale_after_interrupts(client, fresh=fresh == "fresh")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        client.close()
    print(interrupts, stale)


def _check(url: str, *, fresh: bool) -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests.broker.test_interrupted_commands import storm; "
            "storm(sys.argv[1], sys.argv[2])",
            url,
            "fresh" if fresh else "pooled",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert child.returncode == 0, (child.returncode, child.stderr[-3000:])
    interrupts, stale = map(int, child.stdout.split()[-2:])
    assert interrupts > _INTERRUPTS // 2, interrupts  # the signals did land mid-command
    assert stale == 0, f"{stale} of {interrupts} interrupts left a reply unread"


@pytest.mark.parametrize("fresh", [False, True], ids=["pooled", "new-connections-db-3"])
def test_an_interrupted_command_never_leaves_a_reply_for_the_next(fresh: bool) -> None:
    with PrivateRedis() as server:
        # db 3: a handshake cut short before its SELECT must not leave a connection on db 0
        _check(server.url.rsplit("/", 1)[0] + "/3" if fresh else server.url, fresh=fresh)


def test_an_interrupted_command_through_sentinel_never_leaves_a_reply() -> None:
    # redis-py's Sentinel-managed connections read with disconnect_on_error=False: the
    # whole wait for a reply is exposed there, not only the gaps around it
    with SentinelGroup(replicas=0, sentinels=1) as group:
        _check(group.url, fresh=False)
