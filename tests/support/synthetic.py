"""The emulator's synthetic pool as the tests address it, and the tests' seal key.

``courier emulator --users N`` and ``EmulatorConfig(synthetic_users=N)`` serve a pool of N
users ``user0000001`` ... in each Region (:mod:`worker.contrib.emulator.synthetic`).
"""

from __future__ import annotations

from worker.contrib.emulator import PUBLIC_CLIENT_ID, synthetic_pool_id
from worker.contrib.emulator.synthetic import username

__all__ = ["CLIENT_ID", "POOL_ID", "SEAL_KEY", "usernames"]

SEAL_KEY = "Mzs5J0o1m6wE1CQj4oZC3u9aU0q9n2b0f3QJx7mY2aE="
"""The tests' Fernet key (COURIER_SEAL_KEY of the test session and its child processes)."""

CLIENT_ID = PUBLIC_CLIENT_ID
"""The synthetic pool's public client."""

POOL_ID = synthetic_pool_id("us-east-1")
"""The synthetic pool's id in us-east-1, the emulator's default Region."""


def usernames(first: int, count: int) -> list[str]:
    """Synthetic usernames ``user{n:07d}`` for n in ``first`` .. ``first + count - 1``."""
    return [username(n) for n in range(first, first + count)]
