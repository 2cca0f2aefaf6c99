"""Campaign fixtures: an emulator with a synthetic pool, and helpers to follow campaigns."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator

SYNTHETIC_USERS = 5000
POOL_ID = "us-east-1_Synthetic1"
CLIENT_ID = "synthetic0client0000000001"


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[EmulatorHandle]:
    """The session emulator of the campaign tests: a synthetic pool, no quota, no latency."""
    config = EmulatorConfig(synthetic_users=SYNTHETIC_USERS, user_resource_read_per_second=None)
    with running_emulator(config) as handle:
        yield handle


def usernames(first: int, count: int) -> list[str]:
    """Synthetic usernames ``first`` .. ``first + count - 1``."""
    return [f"user{n:07d}" for n in range(first, first + count)]


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


@pytest.fixture
def settings(make_settings: Any) -> Any:
    """Test settings with a budget high enough that campaigns run at emulator speed."""
    return make_settings(rate_limit=5000.0, bulk_share=1.0)
