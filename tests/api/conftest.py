"""A live front: uvicorn with the project's protocol, in a thread, on the test's Redis."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from pydantic import SecretStr

from worker.api import create_app
from worker.api.server import server_config
from worker.runtime import Runtime
from worker.settings import Settings

LIVE_TOKEN = "live-token-5f1d3c2b9a"
LIVE_AUTH = {"Authorization": f"Bearer {LIVE_TOKEN}"}


@dataclass(frozen=True)
class LiveFront:
    """A running front: its base URL, host and port."""

    url: str
    host: str
    port: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_in_thread(settings: Settings, *, token_operations: bool = True) -> Iterator[LiveFront]:
    """Serve ``create_app(settings)`` until the generator is closed."""
    app = create_app(settings, token_operations=token_operations)
    port = _free_port()
    config = server_config(
        app,
        host="127.0.0.1",
        port=port,
        header_timeout_seconds=settings.api_header_timeout_seconds,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-front", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the front did not start"
        assert time.monotonic() < deadline, "the front did not start within 10 s"
        time.sleep(0.02)
    try:
        yield LiveFront(f"http://127.0.0.1:{port}", "127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "the front did not stop"


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
