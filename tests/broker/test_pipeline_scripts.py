"""A pipeline's Lua scripts are loaded on the server that runs it (worker.broker.safe_client).

redis-py checks a pipeline's scripts once, before its retry loop; after a failover the
retry reconnects to a server whose script cache is empty and the EVALSHA answered
NOSCRIPT (seen in the managed-failover scenario: ``NoScriptError`` from the job's outcome
script). Here the check redis-py makes up front is followed, before the pipeline runs, by
``SCRIPT FLUSH``: the server that runs the pipeline has not the script that was checked.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from worker.broker.clients import client_for
from worker.broker.urls import parse_redis_url
from worker.contrib.redisserver import PrivateRedis


def _run_after_a_flush(
    client: redis.Redis, admin: redis.Redis, *, transaction: bool
) -> list[object]:
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    pipe = client.pipeline(transaction=transaction)
    script(keys=["counted"], client=pipe)
    pipe.incr("beside")
    checked: Callable[[], None] = pipe.load_scripts

    def check_then_lose_the_cache() -> None:
        checked()
        admin.script_flush()

    pipe.load_scripts = check_then_lose_the_cache  # type: ignore[method-assign]
    return list(pipe.execute())


@pytest.mark.parametrize("transaction", [False, True], ids=["pipeline", "multi"])
def test_a_pipeline_loads_its_scripts_where_it_runs(transaction: bool) -> None:
    with PrivateRedis() as server:
        admin = server.client()
        client = client_for(parse_redis_url(server.url), connect_timeout_seconds=5)
        try:
            assert _run_after_a_flush(client, admin, transaction=transaction) == [1, 1]
            assert _run_after_a_flush(client, admin, transaction=transaction) == [2, 2]
            assert admin.get("beside") == b"2"  # nothing ran twice
        finally:
            client.close()
            admin.close()


def test_redis_pys_own_pipeline_fails_so_the_guard_is_needed() -> None:
    # The upstream behaviour the project works around (redis/redis-py#4206 documents it):
    # if redis-py ever reloads scripts inside its retry loop, this fails and
    # ScriptSafePipeline can go.
    with PrivateRedis() as server:
        admin = server.client()
        plain = redis.Redis.from_url(server.url)
        try:
            with pytest.raises(redis.exceptions.NoScriptError):
                _run_after_a_flush(plain, admin, transaction=False)
        finally:
            plain.close()
            admin.close()
