"""The directory the emulator serves: user pools, their app clients and their users.

A pool may hold a synthetic range of users (see :mod:`worker.contrib.emulator.synthetic`) that
exist only as a count: a user of that range is generated from its index when looked up,
and stored only once something about it changes (:meth:`Pool.user_for_update`).

How a name typed by a caller finds its user (:meth:`Pool.get_user`) follows Cognito:

* ``UsernameConfiguration.CaseSensitive`` false: ``ALICE`` and ``alice`` are one user
  (and the e-mail alias is matched without regard to case too). Absent, the pool is case
  sensitive: "true ... This is the default value" (API reference,
  UsernameConfigurationType). The console creates case-insensitive pools.
* ``UsernameAttributes`` (``email``, ``phone_number``): the user's username is a UUID
  (its ``sub``), and the e-mail, the phone number or the ``sub`` are accepted wherever a
  username is asked (developer guide, "User pool attributes", username attributes;
  moto's ``test_admin_get_user_with_username_attributes``).
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from worker.contrib.emulator import synthetic
from worker.contrib.emulator.schema import STANDARD, SchemaAttribute

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
    modified: float = -1.0

    def __post_init__(self) -> None:
        # one clock read, at Cognito's millisecond precision: a new user's two dates are
        # equal (two reads differed in about a third of runs before)
        self.created = round(self.created, 3)
        self.modified = self.created if self.modified < 0 else round(self.modified, 3)

    @classmethod
    def synthetic(cls, index: int, *, created: float) -> User:
        """Synthetic user ``index`` (1-based), generated afresh (:mod:`.synthetic`)."""
        return cls(
            username=synthetic.username(index),
            sub=synthetic.sub(index),
            status="UNCONFIRMED",
            password=synthetic.SYNTHETIC_PASSWORD,
            attributes=synthetic.attributes(index),
            created=created,
            modified=created,
        )

    def touch(self) -> None:
        """Set ``modified`` to now (millisecond precision)."""
        self.modified = round(time.time(), 3)

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
    prevent_user_existence_errors: str = "LEGACY"
    # settings echoed by DescribeUserPoolClient (worker.contrib.emulator.documents.CLIENT_ECHOED)
    settings: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=lambda: round(time.time(), 3))

    @property
    def hides_missing_users(self) -> bool:
        """True when ``PreventUserExistenceErrors`` is ``ENABLED`` (default ``LEGACY``).

        Source: developer guide, "Managing user existence error responses": with
        ENABLED, ResendConfirmationCode answers CodeDeliveryDetails for a user that does
        not exist, and USER_PASSWORD_AUTH a generic NotAuthorizedException.
        """
        return self.prevent_user_existence_errors == "ENABLED"


@dataclass
class Pool:
    """A user pool with its clients, explicit users and an optional synthetic range."""

    id: str
    name: str
    region: str
    auto_verified_attributes: tuple[str, ...] = ("email",)
    email_sending_account: str = "COGNITO_DEFAULT"
    synthetic_count: int = 0
    case_sensitive_setting: bool | None = None
    username_attributes: tuple[str, ...] = ()
    schema: dict[str, SchemaAttribute] = field(default_factory=lambda: dict(STANDARD))
    password_policy: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PASSWORD_POLICY))
    # settings echoed by DescribeUserPool (worker.contrib.emulator.documents.POOL_ECHOED)
    settings: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=lambda: round(time.time(), 3))
    clients: dict[str, AppClient] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    _extra: list[str] = field(default_factory=list)
    # lookup key (folded name, alias or sub) -> the username it names
    _names: dict[str, str] = field(default_factory=dict)
    # synthetic usernames deleted (AdminDeleteUser)
    _deleted: set[str] = field(default_factory=set)

    @property
    def case_sensitive(self) -> bool:
        """False only when ``UsernameConfiguration.CaseSensitive`` was set false."""
        return self.case_sensitive_setting is not False

    @property
    def arn(self) -> str:
        """The pool's ARN, with the emulator's fixed account id."""
        return f"arn:aws:cognito-idp:{self.region}:000000000000:userpool/{self.id}"

    @property
    def estimated_users(self) -> int:
        """Users in the pool (the synthetic range plus the others)."""
        return self.synthetic_count - len(self._deleted) + len(self._extra)

    def fold(self, name: str) -> str:
        """``name`` as this pool compares it (lower-cased unless case sensitive)."""
        return name if self.case_sensitive else name.lower()

    def get_user(self, name: str) -> User | None:
        """The user ``name`` designates, or None; synthetic users are generated.

        ``name`` is the username in any case a case-insensitive pool allows, or, in a pool
        with ``UsernameAttributes``, the user's e-mail, phone number or ``sub``.
        """
        key = self.fold(name)
        username = self._names.get(key)
        if username is not None:
            return self.users[username]
        if self.synthetic_count:
            index = synthetic.index_of(key, self.synthetic_count)
            if index is not None and synthetic.username(index) not in self._deleted:
                return User.synthetic(index, created=self.created)
        return None

    def user_for_update(self, name: str) -> User | None:
        """Like :meth:`get_user`, but the user is stored so changes to it persist."""
        user = self.get_user(name)
        if user is not None and user.username not in self.users:
            self._store(user)
        return user

    def add_user(self, user: User) -> None:
        """Store a new user (the caller checked it does not exist)."""
        self._store(user)
        if synthetic.index_of(user.username, self.synthetic_count) is None:
            self._extra.append(user.username)
        self._deleted.discard(user.username)

    def deleted(self, username: str) -> bool:
        """Whether ``username`` is a synthetic user that AdminDeleteUser removed."""
        return username in self._deleted

    def remove_user(self, user: User) -> None:
        """Delete ``user`` (stored or synthetic) and every name that finds it."""
        self.users.pop(user.username, None)
        self._forget_names(user.username)
        if user.username in self._extra:
            self._extra.remove(user.username)
        else:
            self._deleted.add(user.username)

    def reindex(self, user: User) -> None:
        """Re-register the names that find ``user`` after its attributes changed."""
        self._forget_names(user.username)
        self._store(user)

    def _forget_names(self, username: str) -> None:
        self._names = {key: name for key, name in self._names.items() if name != username}

    def _store(self, user: User) -> None:
        self.users[user.username] = user
        self._names[self.fold(user.username)] = user.username
        if self.username_attributes:
            self._names[user.sub] = user.username
            for attribute in self.username_attributes:
                value = user.attributes.get(attribute)
                if value:
                    self._names[self.fold(value)] = user.username

    def iter_users(self, position: int) -> Iterator[tuple[int, User]]:
        """Users in listing order from ``position``, each with its position."""
        count = self.synthetic_count
        while position < count:
            name = synthetic.username(position + 1)
            if name not in self._deleted:
                stored = self.users.get(name)
                yield position, stored or User.synthetic(position + 1, created=self.created)
            position += 1
        for offset in range(position - count, len(self._extra)):
            yield count + offset, self.users[self._extra[offset]]


class Directory:
    """All pools and clients of one emulator run, with seeded id generation."""

    def __init__(self, *, region: str, seed: int) -> None:
        self.region = region
        self.pools: dict[str, Pool] = {}
        self.clients: dict[str, AppClient] = {}
        # scripted answers the seed file asks for: {"operation", "username", "errors"}
        self.scripts: list[dict[str, Any]] = []
        self._rng = random.Random(f"directory/{seed}")  # noqa: S311 - reproducible ids
        self._retired: set[str] = set()  # pool and client ids an earlier directory issued

    def new_pool_id(self, region: str | None = None) -> str:
        """A fresh pool id shaped like Cognito's (``<region>_<9 alphanumerics>``).

        ``region`` defaults to the emulator's own.
        """
        while True:
            pool_id = f"{region or self.region}_" + "".join(self._rng.choices(_ALNUM, k=9))
            if pool_id not in self.pools and pool_id not in self._retired:
                return pool_id

    def new_client_id(self) -> str:
        """A fresh 26-character client id."""
        while True:
            client_id = "".join(self._rng.choices(_ALNUM_LOWER, k=26))
            if client_id not in self.clients and client_id not in self._retired:
                return client_id

    def succeed(self, earlier: Directory) -> None:
        """Continue ``earlier``'s id sequence (after a pool reset): pools and clients
        created from now on never get an id ``earlier`` or its predecessors issued."""
        self._rng = earlier._rng
        self._retired |= earlier._retired | set(earlier.pools) | set(earlier.clients)
        self._retired -= set(self.pools) | set(self.clients)

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

    def remove_pool(self, pool_id: str) -> None:
        """Delete a pool and its clients."""
        pool = self.pools.pop(pool_id)
        for client_id in pool.clients:
            self.clients.pop(client_id, None)

    def remove_client(self, client: AppClient) -> None:
        """Delete an app client."""
        self.pools[client.pool_id].clients.pop(client.id, None)
        self.clients.pop(client.id, None)

    def add_client(self, client: AppClient) -> None:
        """Register ``client`` in its pool."""
        self.pools[client.pool_id].clients[client.id] = client
        self.clients[client.id] = client
