"""Running the emulator: in-process in a background thread, or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from worker.contrib.emulator.config import EmulatorConfig
from worker.contrib.emulator.core import Emulator
from worker.contrib.emulator.handle import EmulatorHandle
from worker.contrib.emulator.server import build_app

__all__ = ["running_emulator", "serve_forever"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _start(emu: Emulator, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(build_app(emu), access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


@contextlib.contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[EmulatorHandle]:
    """Serve an emulator from a background thread (own event loop) while the block runs.

    ``port`` 0 picks a free port; the handle's ``endpoint_url`` names it. The server is
    stopped and its loop closed when the block exits. Raises ``OSError`` when the port
    cannot be bound and :class:`~worker.contrib.emulator.seeding.SeedError` for a bad seed file.
    """
    cfg = config or EmulatorConfig()
    emu = Emulator(cfg)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    runner_box: list[web.AppRunner] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            runner_box.append(loop.run_until_complete(_start(emu, sock)))
        except BaseException as exc:
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="cognito-emulator", daemon=True)
    thread.start()
    started.wait()
    if failure:
        thread.join()
        loop.close()
        sock.close()
        raise failure[0]
    try:
        yield EmulatorHandle(_url(host, bound_port), region=cfg.region)
    finally:
        future = asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        _close_loop(loop)
        sock.close()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def serve_forever(
    config: EmulatorConfig,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str, dict[str, Any]], None],
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; ``on_ready(url, description)`` first."""
    emu = Emulator(config)
    sock = _bind(host, port)

    async def main() -> None:
        runner = await _start(emu, sock)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        on_ready(_url(host, sock.getsockname()[1]), emu.describe())
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        sock.close()
