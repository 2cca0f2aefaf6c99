"""Following campaigns in tests: polling a status, sampling one in a thread, the scenarios' run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support.polling import wait_until
from tests.support.processes import EmulatorProcess, WorkerProcess
from worker.campaign.store import CampaignStore

# A small campaign's meta fields, for tests that build a store by hand.
SIZE = 4
FIELDS: dict[str, str | int | float] = {
    "name": "t",
    "client_id": "c",
    "chunk_size": SIZE,
    "window": 2,
    "lease_seconds": 30,
    "slice_seconds": 5,
    "source": "{}",
}


def wait_for(
    status: Any, campaign_id: str, *, states: tuple[str, ...] = ("done",), timeout: float = 30
) -> dict[str, Any]:
    """Poll ``status(campaign_id)`` until its state is one of ``states``; returns the doc."""
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = status(campaign_id)
        if doc["state"] in states:
            return doc
        if time.monotonic() > deadline:
            raise AssertionError(f"campaign still {doc['state']} after {timeout} s: {doc}")
        time.sleep(0.05)


def user_file(tmp_path: Path, names: Sequence[str]) -> Path:
    """A plain-text campaign input, one username a line."""
    path = tmp_path / "users.txt"
    path.write_text("\n".join(names) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Sample:
    """One look at a campaign: when, its status document, and who held which member."""

    at: float
    status: dict[str, Any]
    owners: dict[str, str]


class CampaignWatch:
    """Samples a campaign's status and lease owners every ``interval_seconds`` in a thread.

    Redis errors while sampling (a restart under test) are skipped, not raised.
    """

    def __init__(self, client: redis.Redis, campaign_id: str, *, interval_seconds: float = 0.2):
        self.store = CampaignStore(client, campaign_id)
        self.samples: list[Sample] = []
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-watch", daemon=True)

    def __enter__(self) -> CampaignWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self.store.status()
                raw = self.store.redis.hgetall(self.store.keys.owners)
            except redis.RedisError:
                self._stop.wait(self._interval)
                continue
            owners = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
            self.samples.append(Sample(time.time(), status, owners))
            self._stop.wait(self._interval)

    def latest(self) -> dict[str, Any]:
        """The latest status document (read now)."""
        status: dict[str, Any] = self.store.status()
        return status

    def wait_done(self, *, timeout_seconds: float) -> dict[str, Any]:
        """Wait for the campaign to be ``done``; returns its final status document."""

        def done() -> dict[str, Any] | None:
            try:
                status = self.latest()
            except redis.RedisError:
                return None
            return status if status["state"] == "done" else None

        return wait_until(done, timeout_seconds=timeout_seconds, what="the campaign to finish")

    def done_at(self) -> float:
        """When the campaign was first seen ``done`` (the last sample's time if never)."""
        at = self.first(lambda s: s.status["state"] == "done", after=0)
        return at if at is not None else self.samples[-1].at

    def first(self, check: Callable[[Sample], bool], *, after: float) -> float | None:
        """The time of the first sample after ``after`` for which ``check`` holds."""
        for sample in self.samples:
            if sample.at >= after and check(sample):
                return sample.at
        return None


CAMPAIGN_USERS = 3000
CAMPAIGN_RATE = 60.0
CAMPAIGN_EMULATOR_FLAGS = (
    "--users", "5000", "--rate-user-resource-read", "100", "--per-user-hourly-cap", "0",
    "--latency-ms", "30", "--jitter-ms", "40",
)  # fmt: skip
"""The campaign scenarios' Cognito: 30-70 ms answers, a quota above the 60/s budget."""


@dataclass
class CampaignRun:
    """A 3,000-user campaign at 60 calls/s running on two ``courier worker`` processes."""

    emulator: EmulatorProcess
    env: dict[str, str]
    workers: tuple[WorkerProcess, WorkerProcess]
    campaign_id: str
    names: list[str]
    watch: CampaignWatch

    def wait_served(self, users: int) -> None:
        """Wait until ``users`` rows succeeded."""
        wait_until(
            lambda: self.watch.latest()["counts"]["succeeded"] >= users,
            timeout_seconds=120,
            what=f"{users} users served",
        )
