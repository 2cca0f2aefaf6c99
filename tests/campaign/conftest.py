"""Campaign fixtures: an emulator with a synthetic pool, and helpers to follow campaigns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator

SYNTHETIC_USERS = 5000


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[EmulatorHandle]:
    """The session emulator of the campaign tests: a synthetic pool, no quota, no latency."""
    config = EmulatorConfig(synthetic_users=SYNTHETIC_USERS, user_resource_read_per_second=None)
    with running_emulator(config) as handle:
        yield handle


@pytest.fixture
def settings(make_settings: Any) -> Any:
    """Test settings with a budget high enough that campaigns run at emulator speed."""
    return make_settings(rate_limit=5000.0, bulk_share=1.0)
