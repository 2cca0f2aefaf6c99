"""A live front for the tests: uvicorn with the project's protocol, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import uvicorn

from worker.api import create_app
from worker.api.server import server_config
from worker.contrib.redisserver import free_port
from worker.settings import Settings

LIVE_TOKEN = "live-token-5f1d3c2b9a"
LIVE_AUTH = {"Authorization": f"Bearer {LIVE_TOKEN}"}


@dataclass(frozen=True)
class LiveFront:
    """A running front: its base URL, host and port."""

    url: str
    host: str
    port: int


def serve_in_thread(
    settings: Settings, *, token_operations: bool = True
) -> Generator[LiveFront, None, None]:
    """Serve ``create_app(settings)`` until the generator is closed."""
    app = create_app(settings, token_operations=token_operations)
    port = free_port()
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
