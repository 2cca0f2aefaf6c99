"""Initial pools: a seed file, and the synthetic pool when ``synthetic_users`` > 0.

Seed file (JSON)::

    {"pools": [{
        "id": "us-east-1_Example1",            # optional; generated when absent
        "name": "example",
        "auto_verified_attributes": ["email"],  # optional, default ["email"]
        "email_sending_account": "COGNITO_DEFAULT",   # or "DEVELOPER"
        "clients": [
            {"id": "exampleweb0000000000000001", "name": "web"},
            {"name": "backend", "secret": "fixed-secret-value-of-24-chars-or-more"},
            {"name": "generated", "generate_secret": true}
        ],
        "users": [
            {"username": "alice", "email": "alice@example.com", "status": "UNCONFIRMED",
             "password": "Passw0rd!", "phone_number": "+15555550100",
             "attributes": {"name": "Alice"}}
        ]
    }]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.emulator import synthetic
from worker.emulator.config import EmulatorConfig
from worker.emulator.state import AppClient, Directory, Pool, User

__all__ = ["SeedError", "build_directory"]

_STATUSES = frozenset({"UNCONFIRMED", "CONFIRMED", "FORCE_CHANGE_PASSWORD", "RESET_REQUIRED"})


class SeedError(ValueError):
    """Raised when a seed file cannot be read or breaks the format; names the place."""


def _text(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value:
        raise SeedError(f"{where}: '{key}' must be a non-empty string")
    return value


def _load_pool(directory: Directory, raw: Any, where: str) -> Pool:
    if not isinstance(raw, dict):
        raise SeedError(f"{where}: a pool must be an object")
    pool_id = raw.get("id") or directory.new_pool_id()
    if not isinstance(pool_id, str) or "_" not in pool_id or pool_id in directory.pools:
        raise SeedError(f"{where}: bad or duplicate pool id {pool_id!r}")
    verified = raw.get("auto_verified_attributes", ["email"])
    if not isinstance(verified, list) or not set(verified) <= {"email", "phone_number"}:
        raise SeedError(f"{where}: auto_verified_attributes must list email/phone_number")
    sending = raw.get("email_sending_account", "COGNITO_DEFAULT")
    if sending not in ("COGNITO_DEFAULT", "DEVELOPER"):
        raise SeedError(f"{where}: email_sending_account must be COGNITO_DEFAULT or DEVELOPER")
    pool = Pool(
        id=pool_id,
        name=_text(raw, "name", where, default=pool_id),
        region=pool_id.split("_", 1)[0],
        auto_verified_attributes=tuple(verified),
        email_sending_account=sending,
    )
    _load_clients(directory, pool, raw.get("clients", []), where)
    _load_users(directory, pool, raw.get("users", []), where)
    return pool


def _load_clients(directory: Directory, pool: Pool, entries: Any, where: str) -> None:
    for i, entry in enumerate(entries):
        spot = f"{where}.clients[{i}]"
        if not isinstance(entry, dict):
            raise SeedError(f"{spot}: a client must be an object")
        client_id = entry.get("id") or directory.new_client_id()
        if not isinstance(client_id, str) or client_id in directory.clients:
            raise SeedError(f"{spot}: bad or duplicate client id {client_id!r}")
        secret = entry.get("secret")
        if secret is None and entry.get("generate_secret"):
            secret = directory.new_secret()
        if secret is not None and not isinstance(secret, str):
            raise SeedError(f"{spot}: 'secret' must be a string")
        client = AppClient(
            id=client_id,
            name=_text(entry, "name", spot, default=client_id),
            pool_id=pool.id,
            secret=secret,
        )
        pool.clients[client.id] = client
        directory.clients[client.id] = client


def _load_users(directory: Directory, pool: Pool, entries: Any, where: str) -> None:
    for i, entry in enumerate(entries):
        spot = f"{where}.users[{i}]"
        if not isinstance(entry, dict):
            raise SeedError(f"{spot}: a user must be an object")
        status = entry.get("status", "UNCONFIRMED")
        if status not in _STATUSES:
            raise SeedError(f"{spot}: unknown status {status!r}")
        attributes = dict(entry.get("attributes") or {})
        for key in ("email", "phone_number"):
            if entry.get(key):
                attributes[key] = str(entry[key])
        username = _text(entry, "username", spot)
        if username in pool.users:
            raise SeedError(f"{spot}: duplicate username {username!r}")
        pool.add_user(
            User(
                username=username,
                sub=directory.new_sub(),
                status=status,
                password=str(entry.get("password", "")),
                attributes={k: str(v) for k, v in attributes.items()},
            )
        )


def _synthetic_pool(config: EmulatorConfig) -> Pool:
    pool = Pool(
        id=synthetic.pool_id(config.region),
        name="synthetic",
        region=config.region,
        synthetic_count=config.synthetic_users,
    )
    for client in (
        AppClient(id=synthetic.PUBLIC_CLIENT_ID, name="synthetic-public", pool_id=pool.id),
        AppClient(
            id=synthetic.SECRET_CLIENT_ID,
            name="synthetic-secret",
            pool_id=pool.id,
            secret=synthetic.client_secret(config.seed),
        ),
    ):
        pool.clients[client.id] = client
    return pool


def build_directory(config: EmulatorConfig) -> Directory:
    """The directory a run starts with; raises :class:`SeedError` for a bad seed file."""
    directory = Directory(region=config.region, seed=config.seed)
    if config.seed_file is not None:
        path = Path(config.seed_file)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SeedError(f"cannot read seed file {path}: {exc}") from None
        pools = document.get("pools") if isinstance(document, dict) else None
        if not isinstance(pools, list):
            raise SeedError(f"{path}: the document must be an object with a 'pools' list")
        for i, raw in enumerate(pools):
            directory.add_pool(_load_pool(directory, raw, f"pools[{i}]"))
    if config.synthetic_users > 0:
        directory.add_pool(_synthetic_pool(config))
    return directory
