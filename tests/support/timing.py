"""Counting grants by time, and running a body in threads until a deadline."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Sequence


def max_in_window(times: Sequence[float], window_seconds: float = 1.0) -> int:
    """The most grants in any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + window_seconds) - i for i, t in enumerate(ordered)),
        default=0,
    )


def steady_rate(times: Sequence[float]) -> float:
    """Grants per second between the first and last grant, the initial burst of one left out."""
    ordered = sorted(times)
    if len(ordered) < 3:
        return 0.0
    return (len(ordered) - 2) / (ordered[-1] - ordered[0])


def run_threads(count: int, seconds: float, body: Callable[[float], None]) -> None:
    """Run ``body(deadline)`` in ``count`` threads until the monotonic ``deadline``."""
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=body, args=(deadline,)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 10)
