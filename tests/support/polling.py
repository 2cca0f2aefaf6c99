"""Waiting in tests: poll a check until it holds, with a deadline that names what it waited for."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout_seconds: float,
    what: str,
    interval_seconds: float = 0.1,
) -> T:
    """Poll ``check()`` until it returns something truthy; returns that value.

    Raises:
        AssertionError: still falsy after ``timeout_seconds`` (the message names ``what``).
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds:g} s waiting for {what}")
        time.sleep(interval_seconds)
