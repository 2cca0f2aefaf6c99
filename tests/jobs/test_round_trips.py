"""Redis round trips per job, counted, so a regression in the job path shows.

A job run in this thread (:func:`worker.jobs.run_job`, real Redis, boto3 to the emulator)
is counted with :func:`tests.support.roundtrips.counting_round_trips`: every command and
every pipeline sent by this thread is one trip (the heartbeat thread is not counted). The
bound is what the path needs today; a change that adds a trip fails here and names them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.support.roundtrips import counting_round_trips
from worker.delivery import ResendRequest
from worker.jobs import run_job
from worker.runtime import Runtime

OPERATION = ResendRequest.operation
PERMIT = "EVALSHA worker.ratelimit._lua.ACQUIRE"
MAX_TRIPS_BESIDE_THE_PERMIT = 4
"""Start (status and lease, one script), guard reservation, attempt counted, outcome
recorded (lease released and ``created_at`` read for the duration by the same script; its
WAIT rides in the same pipeline when a replica is asked for). The permit is one more (two
when a grant was just missed). Measured: 5 in all (START, RESERVE, HINCRBY, ACQUIRE,
TRANSITION); 6 before the duration came with the outcome (one more HGET)."""


def _job(runtime: Runtime, pool: Any) -> tuple[str, ResendRequest]:
    job_id = f"rt-{uuid.uuid4().hex[:12]}"
    runtime.statuses.create(job_id, OPERATION)
    return job_id, ResendRequest(pool.client_id, pool.add_user(f"rt-{uuid.uuid4().hex[:8]}"))


def test_a_job_makes_a_bounded_number_of_round_trips(runtime: Runtime, pool: Any) -> None:
    warm_id, warm = _job(runtime, pool)  # scripts loaded, clients made, as on a busy worker
    assert run_job(runtime, warm_id, warm) == "succeeded"
    time.sleep(0.2)  # its permit's period passes: the measured job's permit is granted at once
    job_id, request = _job(runtime, pool)
    with counting_round_trips() as trips:
        assert run_job(runtime, job_id, request) == "succeeded"
    assert runtime.statuses.get(job_id)["state"] == "succeeded"
    assert 1 <= trips.count(PERMIT) <= 2, trips
    assert len(trips) - trips.count(PERMIT) <= MAX_TRIPS_BESIDE_THE_PERMIT, trips
    assert "HGET" not in trips, trips  # the duration comes with the outcome
    assert trips.count("EVALSHA worker.status_scripts.START") == 1, trips
