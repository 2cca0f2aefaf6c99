"""What SIGINT (Ctrl-C) and SIGTERM mean to a command that started something.

Python raises :class:`KeyboardInterrupt` for SIGINT; inside :func:`interruptible` SIGTERM
does the same, so one ``except KeyboardInterrupt`` handles both. The handler then runs
under :func:`shielded` (both signals ignored), so a second Ctrl-C cannot cut the clean-up
short (cancelling a campaign, reading a job's state) halfway. Such a command exits with
:data:`EXIT_INTERRUPTED`, 128 + SIGINT as shells report it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["EXIT_INTERRUPTED", "interruptible", "shielded"]

EXIT_INTERRUPTED = 130
"""Exit status of a command stopped by SIGINT or SIGTERM (128 + 2, as shells report it)."""

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM raise :class:`KeyboardInterrupt` (main thread)."""
    previous = [signal.signal(signum, _interrupt) for signum in _SIGNALS]
    try:
        yield
    finally:
        for signum, handler in zip(_SIGNALS, previous, strict=True):
            signal.signal(signum, handler)


@contextmanager
def shielded() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM are ignored (the clean-up after an interrupt)."""
    previous = [signal.signal(signum, signal.SIG_IGN) for signum in _SIGNALS]
    try:
        yield
    finally:
        for signum, handler in zip(_SIGNALS, previous, strict=True):
            signal.signal(signum, handler)
