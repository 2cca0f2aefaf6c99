"""A live front: uvicorn with the project's protocol, in a thread, on the test's Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from tests.support.front import LIVE_TOKEN, LiveFront, serve_in_thread
from worker.runtime import Runtime
from worker.settings import Settings


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    """The suite's settings with the live token and short read timeouts (1 s, 2 s)."""
    return settings.model_copy(
        update={
            "api_tokens": [SecretStr(LIVE_TOKEN)],
            "api_header_timeout_seconds": 1.0,
            "api_body_timeout_seconds": 2.0,
        }
    )


@pytest.fixture
def live_front(live_settings: Settings, runtime: Runtime) -> Iterator[LiveFront]:
    """A live front on this test's runtime (test Redis, emulator)."""
    yield from serve_in_thread(live_settings)
