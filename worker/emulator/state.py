"""The directory the emulator serves: user pools, their app clients and their users.

A pool may hold a synthetic range of users (see :mod:`worker.emulator.synthetic`) that
exist only as a count: a user of that range is generated from its index when looked up,
and stored only once something about it changes (:meth:`Pool.user_for_update`).
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from worker.emulator import synthetic

__all__ = ["DEFAULT_PASSWORD_POLICY", "AppClient", "Directory", "Pool", "User"]

DEFAULT_PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}

_ALNUM_LOWER = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits


@dataclass
class User:
    """One user of a pool; ``attributes`` holds everything but ``sub``."""

    username: str
    sub: str
    status: str
    password: str
    attributes: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)

    def all_attributes(self) -> dict[str, str]:
        """The attributes as Cognito lists them, ``sub`` first."""
        return {"sub": self.sub, **self.attributes}


@dataclass
class AppClient:
    """An app client; ``secret`` is None for a public client."""

    id: str
    name: str
    pool_id: str
    secret: str | None = None
    explicit_auth_flows: tuple[str, ...] = ()
    created: float = field(default_factory=time.time)


@dataclass
class Pool:
    """A user pool with its clients, explicit users and an optional synthetic range."""

    id: str
    name: str
    region: str
    auto_verified_attributes: tuple[str, ...] = ("email",)
    email_sending_account: str = "COGNITO_DEFAULT"
    synthetic_count: int = 0
    password_policy: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PASSWORD_POLICY))
    created: float = field(default_factory=time.time)
    clients: dict[str, AppClient] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    _extra: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        """The pool's ARN, with the emulator's fixed account id."""
        return f"arn:aws:cognito-idp:{self.region}:000000000000:userpool/{self.id}"

    @property
    def estimated_users(self) -> int:
        """Users in the pool (the synthetic range plus the others)."""
        return self.synthetic_count + len(self._extra)

    def get_user(self, username: str) -> User | None:
        """The user called ``username``, or None; synthetic users are generated."""
        user = self.users.get(username)
        if user is None and self.synthetic_count:
            index = synthetic.index_of(username, self.synthetic_count)
            if index is not None:
                user = synthetic.make_user(index, created=self.created)
        return user

    def user_for_update(self, username: str) -> User | None:
        """Like :meth:`get_user`, but the user is stored so changes to it persist."""
        user = self.get_user(username)
        if user is not None:
            self.users[username] = user
        return user

    def add_user(self, user: User) -> None:
        """Store a new user (the caller checked it does not exist)."""
        self.users[user.username] = user
        if synthetic.index_of(user.username, self.synthetic_count) is None:
            self._extra.append(user.username)

    def iter_users(self, position: int) -> Iterator[tuple[int, User]]:
        """Users in listing order from ``position``, each with its position."""
        count = self.synthetic_count
        while position < count:
            name = synthetic.username(position + 1)
            stored = self.users.get(name)
            yield position, stored or synthetic.make_user(position + 1, created=self.created)
            position += 1
        for offset in range(position - count, len(self._extra)):
            yield count + offset, self.users[self._extra[offset]]


class Directory:
    """All pools and clients of one emulator run, with seeded id generation."""

    def __init__(self, *, region: str, seed: int) -> None:
        self.region = region
        self.pools: dict[str, Pool] = {}
        self.clients: dict[str, AppClient] = {}
        self._rng = random.Random(f"directory/{seed}")  # noqa: S311 - reproducible ids

    def new_pool_id(self) -> str:
        """A fresh pool id shaped like Cognito's (``<region>_<9 alphanumerics>``)."""
        while True:
            pool_id = f"{self.region}_" + "".join(self._rng.choices(_ALNUM, k=9))
            if pool_id not in self.pools:
                return pool_id

    def new_client_id(self) -> str:
        """A fresh 26-character client id."""
        while True:
            client_id = "".join(self._rng.choices(_ALNUM_LOWER, k=26))
            if client_id not in self.clients:
                return client_id

    def new_secret(self) -> str:
        """A fresh 51-character client secret."""
        return "".join(self._rng.choices(_ALNUM_LOWER, k=51))

    def new_sub(self) -> str:
        """A fresh user ``sub`` (UUID-shaped)."""
        hexes = f"{self._rng.getrandbits(128):032x}"
        return f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-a{hexes[17:20]}-{hexes[20:]}"

    def add_pool(self, pool: Pool) -> None:
        """Register ``pool`` and its clients."""
        self.pools[pool.id] = pool
        for client in pool.clients.values():
            self.clients[client.id] = client

    def add_client(self, client: AppClient) -> None:
        """Register ``client`` in its pool."""
        self.pools[client.pool_id].clients[client.id] = client
        self.clients[client.id] = client
