"""The identity tests' pools: one case-insensitive pool with two app clients, one case-sensitive.

Both are made in the emulator through boto3 (:meth:`EmulatorHandle.make_pool
<worker.contrib.emulator.handle.EmulatorHandle.make_pool>`); :attr:`Pools.registry` is the
COURIER_CLIENTS document that names them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from worker.contrib.emulator import EmulatorHandle
from worker.contrib.emulator.pools import UserPool

__all__ = ["Pools"]


@dataclass(frozen=True)
class Pools:
    """The pools and the clients the registry names.

    Attributes:
        folded: the case-insensitive pool; its public client is :attr:`web`.
        mobile: a second public client of ``folded``.
        exact_pool: the case-sensitive pool; its public client is :attr:`exact`, declared
            ``case_sensitive`` in the registry.
    """

    folded: UserPool
    mobile: str
    exact_pool: UserPool

    @classmethod
    def make(cls, emulator: EmulatorHandle) -> Pools:
        """Create both pools and their clients in ``emulator``."""
        folded = emulator.make_pool("folded", case_sensitive=False)
        exact = emulator.make_pool("exact", case_sensitive=True)
        mobile = folded.add_client("mobile")
        return cls(folded, mobile, exact)

    @property
    def web(self) -> str:
        """The case-insensitive pool's first client."""
        return self.folded.client_id

    @property
    def exact(self) -> str:
        """The case-sensitive pool's client."""
        return self.exact_pool.client_id

    @property
    def registry(self) -> dict[str, dict[str, Any]]:
        """The COURIER_CLIENTS document: client id -> its pool (and case sensitivity)."""
        return {
            self.web: {"user_pool_id": self.folded.pool_id},
            self.mobile: {"user_pool_id": self.folded.pool_id},
            self.exact: {"user_pool_id": self.exact_pool.pool_id, "case_sensitive": True},
        }

    def add_user(self, client_id: str, username: str | None = None) -> str:
        """Sign an UNCONFIRMED user up through ``client_id``; returns the username.

        ``username`` defaults to a fresh random one; the e-mail is the lowercased name's.
        """
        name = username or f"u{uuid.uuid4().hex[:10]}"
        pool = self.exact_pool if client_id == self.exact else self.folded
        return pool.add_user(name, email=f"{name.lower()}@example.com", client_id=client_id)
