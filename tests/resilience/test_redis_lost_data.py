"""A Redis restarted empty mid-campaign: the campaign is named ``lost``, nobody crashes.

A 600-user campaign at 60 calls/s on one real ``courier worker``; once 100 users are
served, Redis is stopped, its AOF removed, and it is started again empty (what a Redis
without persistence, or a replica promoted before it synced, gives). Then: the worker
does not exit and logs no traceback or KeyError; the worker that was sending the campaign
leaves its tombstone, so ``courier campaign status`` prints the document with state
``lost`` (exit 1, one JSON document), ``campaign list`` shows it ``lost`` and ``campaign
report`` exits 1 with one error document and no file; no partial ``meta`` is ever
recreated; a new job submitted afterwards succeeds. A real ``courier api`` answers
``GET /campaigns/{id}`` for it, and for a campaign of which only its index entry is left,
with 200 and the status document (state ``lost``, valid against the OpenAPI document's
``Campaign`` schema), never 500.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis

from tests.support.campaigns import user_file
from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import (
    EmulatorProcess,
    WorkerProcess,
    courier,
    serving,
    start_campaign,
)
from tests.support.synthetic import CLIENT_ID, usernames
from worker.contrib.redisserver import PrivateRedis, free_port

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(300)]

NAMED_WITHIN_SECONDS = 20.0
API_TOKEN = "lost-campaign-token-0f3e9a"


def _front_answer(env: dict[str, str], campaign_id: str, tmp_path: Path) -> dict[str, Any]:
    """``GET /campaigns/{id}`` of a real ``courier api``: asserts 200 and a document valid
    against the front's own OpenAPI ``Campaign`` schema; returns the document."""
    port = free_port()
    env = {**env, "COURIER_API_TOKENS": API_TOKEN}
    args = ["api", "--port", str(port)]
    log_path = tmp_path / f"api-{campaign_id}.log"
    with serving(args, env=env, log_path=log_path, health_path="/healthz", port=port) as url:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as answer:
            contract = json.load(answer)
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        request = urllib.request.Request(f"{url}/campaigns/{campaign_id}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:  # raises on 4xx/5xx
            assert answer.status == 200
            document: dict[str, Any] = json.load(answer)
    jsonschema.validate(document, contract["components"]["schemas"]["Campaign"])
    return document


def test_a_redis_restarted_empty_mid_campaign(
    *,
    aof_redis: PrivateRedis,
    aof_client: redis.Redis,
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    tmp_path: Path,
) -> None:
    emulator = start_emulator(
        "--users", "2000", "--rate-user-resource-read", "0", "--per-user-hourly-cap", "0",
        "--latency-ms", "20",
    )  # fmt: skip
    env = worker_env(emulator.endpoint_url, rate_limit=60, bulk_share=1)
    worker = start_worker("lost", env)
    campaign_id = start_campaign(
        env, user_file(tmp_path, usernames(1, 600)), CLIENT_ID, "--chunk-size", "100"
    )
    meta_key = f"courier:campaign:{campaign_id}:meta"

    def served() -> int:
        return int(aof_client.hget(f"courier:campaign:{campaign_id}:counts", "succeeded") or 0)

    wait_until(lambda: served() >= 100, timeout_seconds=60, what="100 users served")
    aof_redis.stop()
    for path in aof_redis.directory.iterdir():  # its data: gone
        if path.name != "redis.log" and not path.name.endswith(".conf"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    aof_redis.start()
    back_at = time.monotonic()
    assert not aof_client.exists(meta_key)  # its data is gone (workers may write already)

    def lost_document() -> dict[str, object] | None:
        done = courier("campaign", "status", campaign_id, "--json", env=env)
        document: dict[str, object] = json.loads(done.stdout)
        return document if done.returncode == 1 and document.get("state") == "lost" else None

    document = wait_until(
        lost_document, timeout_seconds=NAMED_WITHIN_SECONDS + 30, what="the campaign named lost"
    )
    named_seconds = time.monotonic() - back_at
    assert document is not None
    assert "vanished while a worker was sending it" in str(document["lost_reason"])

    listed = courier("campaign", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    states = {c["id"]: c["state"] for c in json.loads(listed.stdout)["campaigns"]}
    assert states.get(campaign_id) == "lost", states
    out = tmp_path / "report.csv"
    report = courier("campaign", "report", campaign_id, "--out", str(out), "--json", env=env)
    assert report.returncode == 1, report.stdout + report.stderr[-2000:]
    assert json.loads(report.stdout)["error"]["type"] == "CampaignLostError"
    assert not out.exists()

    api_document = _front_answer(env, campaign_id, tmp_path)
    assert api_document["state"] == "lost", api_document
    assert api_document["lost_reason"] == document["lost_reason"]
    aof_client.zadd("courier:campaigns", {"feedfacefeedface": time.time()})  # a trace only
    partial = _front_answer(env, "feedfacefeedface", tmp_path)
    assert (partial["state"], partial["total"]) == ("lost", 0), partial

    time.sleep(4)  # two watchdog periods, a heartbeat or two: nothing rebuilds the meta
    assert not aof_client.exists(meta_key)
    job = courier(
        "resend", "--client-id", CLIENT_ID, "--username", "user0001500", "--wait", "--json",
        env=env,
    )  # fmt: skip
    assert job.returncode == 0, job.stdout + job.stderr[-2000:]
    assert json.loads(job.stdout)["state"] == "succeeded"

    log = worker.log()
    scenario = "Redis restarted empty mid-campaign (1 worker, 600 users at 60/s)"
    record(scenario, "worker exits", 0 if worker.alive else 1, target="0", met=worker.alive)
    record(
        scenario,
        "seconds from Redis answering to the campaign named lost",
        round(named_seconds, 1),
        target=f"<= {NAMED_WITHIN_SECONDS:g} s",
        met=named_seconds <= NAMED_WITHIN_SECONDS,
    )
    assert worker.alive, log[-3000:]
    assert named_seconds <= NAMED_WITHIN_SECONDS
    assert "Traceback" not in log, log[-3000:]
    assert "KeyError" not in log, log[-3000:]
