"""Lua scripts and a full Redis: refused whole, or run whole, never half written.

The audit of issue 18 (docs/resilience.md, "Lua under a full Redis") rests on how Redis
7 runs a script that writes when ``maxmemory`` is reached with ``noeviction``: the OOM
check is made at the script's first write only (a script without a shebang; none of the
project's has one or ``allow-oom``), so a script refused by a full Redis wrote nothing,
and a script whose own first write pushes Redis past ``maxmemory`` is allowed its later
writes (redis/src/script.c, ``scriptVerifyOOM``: refused only when OOM was detected as
the script started and it has not written yet). Checked here on a real ``redis-server``,
the first with the project's worst script: the job start
(:meth:`worker.status.StatusStore.start`), which reads the job, may count a redelivery
(two keys), sets the job ``running`` with its holder and takes the lease (a third key) -
a lease without the status, or the status without the lease, would be the
half-written state the issue warns of.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from worker.contrib.redisserver import PrivateRedis
from worker.status import JOB_LEASES_KEY, REDELIVERED_KEY, StatusStore, job_key

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(60)]

JOB = "0123456789abcdef0123456789abcdef"
MIB = 1024 * 1024


@pytest.fixture
def noeviction() -> Iterator[tuple[redis.Redis, StatusStore]]:
    """A private Redis (``noeviction``) holding one job found ``running`` by a dead holder
    (so the start script takes every branch that writes)."""
    with PrivateRedis() as server:
        client = server.client()
        client.config_set("maxmemory-policy", "noeviction")
        store = StatusStore(client, ttl_seconds=3600)
        store.create(JOB, "ResendConfirmationCode")
        client.hset(job_key(JOB), mapping={"state": "running", "holder": "dead-worker"})
        yield client, store
        client.close()


def _snapshot(client: redis.Redis) -> tuple[object, ...]:
    return (
        client.hgetall(job_key(JOB)),
        client.zscore(JOB_LEASES_KEY, JOB),
        client.get(REDELIVERED_KEY),
    )


def test_a_start_refused_by_a_full_redis_wrote_nothing(
    noeviction: tuple[redis.Redis, StatusStore],
) -> None:
    client, store = noeviction
    before = _snapshot(client)
    client.config_set("maxmemory", str(int(client.info("memory")["used_memory"]) // 2))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        store.start(JOB, holder="new-worker", lease_seconds=15)
    assert _snapshot(client) == before  # no counter, no holder, no lease
    client.config_set("maxmemory", "0")
    started = store.start(JOB, holder="new-worker", lease_seconds=15)  # once memory is freed
    assert (started.previous, started.held) == ("running", False)
    assert client.hget(job_key(JOB), "holder") == b"new-worker"
    assert client.zscore(JOB_LEASES_KEY, JOB) is not None
    assert client.get(REDELIVERED_KEY) == b"1"


# The shape of the start script (the job hash, then the lease), with a first write that
# allocates 2 MiB inside Redis (string.rep), not in the request: past maxmemory on its way.
_FILLS_ON_ITS_WAY = """
redis.call('HSET', KEYS[1], 'state', 'running', 'blob', string.rep('x', 2 * 1024 * 1024))
redis.call('ZADD', KEYS[2], 1, ARGV[1])
return 1
"""


def test_a_script_that_fills_redis_on_its_way_writes_everything(
    noeviction: tuple[redis.Redis, StatusStore],
) -> None:
    client, _ = noeviction
    script = client.register_script(_FILLS_ON_ITS_WAY)
    used = int(client.info("memory")["used_memory"])
    limit = used + MIB // 2
    client.config_set("maxmemory", str(limit))
    assert script(keys=[job_key(JOB), JOB_LEASES_KEY], args=[JOB]) == 1
    assert int(client.info("memory")["used_memory"]) > limit  # it went past maxmemory
    assert client.hget(job_key(JOB), "state") == b"running"
    assert client.zscore(JOB_LEASES_KEY, JOB) == 1.0  # the write after it was allowed
    with pytest.raises(redis.exceptions.OutOfMemoryError):  # the next one is refused whole
        store_start(client)
    assert client.hget(job_key(JOB), "holder") == b"dead-worker"


def store_start(client: redis.Redis) -> None:
    """The project's job start on ``client`` (a full Redis refuses it at its first write)."""
    StatusStore(client, ttl_seconds=3600).start(JOB, holder="late", lease_seconds=15)
