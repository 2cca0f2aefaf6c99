"""An interactive job whose worker is SIGKILLed mid-call is sent again within seconds.

Two ``courier worker`` processes with the default visibility timeout (900 s); the emulator
answers every call after 6 s, so the kill lands while the call is on its way. The job's
lease (15 s, renewed by the heartbeat) runs out, a watchdog sends the job again, and its
document counts the repeat: ``redeliveries`` 1, ``attempts`` 2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import cast

import pytest
import redis

from tests.support.figures import record
from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess, submit_resends
from tests.support.runtime import is_terminal
from tests.support.synthetic import CLIENT_ID, usernames
from worker.status import StatusStore, job_key

pytestmark = [pytest.mark.resilience, pytest.mark.timeout(240)]

SCENARIO = "Interactive jobs whose worker is SIGKILLed mid-call (visibility timeout 900 s)"
JOBS = 6
CALL_SECONDS = 6.0


def test_jobs_of_a_killed_worker_are_sent_again_within_a_minute(
    start_emulator: Callable[..., EmulatorProcess],
    start_worker: Callable[..., WorkerProcess],
    worker_env: Callable[..., dict[str, str]],
    aof_client: redis.Redis,
) -> None:
    emulator = start_emulator(
        "--users", "100", "--per-user-hourly-cap", "0", "--latency-ms", str(CALL_SECONDS * 1000)
    )  # fmt: skip
    env = worker_env(emulator.endpoint_url)
    assert "COURIER_VISIBILITY_TIMEOUT_SECONDS" not in env  # the default, 900 s
    workers = [start_worker("w1", env, "-c", "4"), start_worker("w2", env, "-c", "4")]
    names = usernames(1, JOBS)
    job_ids = submit_resends(env, CLIENT_ID, names)
    statuses = StatusStore(aof_client, ttl_seconds=3600)

    def all_running_and_called() -> bool:
        return all(
            statuses.get(job_id)["state"] == "running" and statuses.get(job_id)["attempts"] == 1
            for job_id in job_ids
        )

    wait_until(all_running_and_called, timeout_seconds=30, what="every job's call on its way")
    holders = {
        job_id: cast("bytes | None", aof_client.hget(job_key(job_id), "holder"))
        for job_id in job_ids
    }
    first_holder = holders[job_ids[0]]
    assert first_holder is not None
    pid = int(first_holder.decode().split(":")[1])
    victim = next(w for w in workers if w.pid == pid)
    survivor = next(w for w in workers if w is not victim)
    on_victim = [j for j, h in holders.items() if h is not None and f":{pid}:" in h.decode()]
    killed_at = victim.kill()

    def all_terminal() -> bool:
        return all(is_terminal(statuses, job_id) for job_id in job_ids)

    wait_until(all_terminal, timeout_seconds=90, what="every job terminal after the kill")
    terminal_after = (
        max(_epoch(statuses.get(job_id)["updated_at"]) for job_id in on_victim) - killed_at
    )
    documents = {job_id: statuses.get(job_id) for job_id in job_ids}
    sent = Counter(d["username"] for d in emulator.handle.deliveries())

    record(SCENARIO, "faults injected (SIGKILL mid-call)", 1)
    record(SCENARIO, "jobs run", JOBS)
    record(SCENARIO, "jobs on the killed worker", len(on_victim))
    record(
        SCENARIO,
        "s from kill to its last job terminal",
        terminal_after,
        target="<= 60",
        met=terminal_after <= 60,
    )
    least = min(documents[j]["redeliveries"] for j in on_victim)
    record(SCENARIO, "redeliveries of its jobs (least)", least, target=">= 1", met=least >= 1)
    lost = [j for j, d in documents.items() if d["state"] != "succeeded"]
    record(SCENARIO, "jobs lost", len(lost), target="= 0", met=not lost)

    assert survivor.alive
    assert not lost, [documents[j] for j in lost]
    assert terminal_after <= 60, f"terminal {terminal_after:.1f} s after the kill"
    for job_id in on_victim:
        assert documents[job_id]["redeliveries"] == 1, documents[job_id]
        assert documents[job_id]["attempts"] == 2, documents[job_id]  # both calls counted
    for job_id in set(job_ids) - set(on_victim):
        assert documents[job_id]["redeliveries"] == 0, documents[job_id]
        assert documents[job_id]["attempts"] == 1, documents[job_id]
    assert all(1 <= sent[name] <= 2 for name in names), sent


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
