"""A small TCP forwarder of the tests' own: one loopback endpoint in front of a Redis that
can be moved to another, as a managed Redis's DNS name moves to the new primary.

:meth:`Forwarder.move_to` sends new connections to the new target at once and cuts the
connections still open to the old one ``cut_after_seconds`` later (a managed failover
leaves old connections to the demoted primary open for a while).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["Forwarder"]


class Forwarder:
    """Listens on 127.0.0.1:<port>; forwards each connection to the current target."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._pairs: list[tuple[tuple[str, int], socket.socket, socket.socket]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def move_to(self, target: tuple[str, int], *, cut_after_seconds: float) -> None:
        """New connections go to ``target``; the old ones are cut after the delay."""
        with self._lock:
            self._target = target
        timer = threading.Timer(cut_after_seconds, self._cut_all_but, args=(target,))
        timer.daemon = True
        timer.start()

    def _cut_all_but(self, target: tuple[str, int]) -> None:
        with self._lock:
            old = [p for p in self._pairs if p[0] != target]
            self._pairs = [p for p in self._pairs if p[0] == target]
        for _, client, upstream in old:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                target = self._target
            try:
                upstream = socket.create_connection(target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((target, client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop listening and cut every connection."""
        self._stop.set()
        self._listener.close()
        self._cut_all_but(("", -1))
        time.sleep(0)
