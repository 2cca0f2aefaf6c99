"""Initial pools: a seed file, and the synthetic pool when ``synthetic_users`` > 0.

Seed file (JSON)::

    {"pools": [{
        "id": "us-east-1_Example1",            # optional; generated when absent
        "name": "example",
        "auto_verified_attributes": ["email"],  # optional, default ["email"]
        "email_sending_account": "COGNITO_DEFAULT",   # or "DEVELOPER"
        "case_sensitive": false,                # optional; absent: case sensitive
        "username_attributes": ["email"],        # optional: users sign in with e-mail
        "schema": [{"Name": "plan", "AttributeDataType": "String"}],  # as CreateUserPool
        "clients": [
            {"id": "exampleweb0000000000000001", "name": "web",
             "prevent_user_existence_errors": "ENABLED"},   # optional, default LEGACY
            {"name": "backend", "secret": "fixed-secret-value-of-24-chars-or-more"},
            {"name": "generated", "generate_secret": true}
        ],
        "users": [
            {"username": "alice@example.com", "status": "UNCONFIRMED",
             "password": "Passw0rd!", "phone_number": "+15555550100",
             "attributes": {"name": "Alice"}}
        ]
    }],
    "scripts": [                                 # optional: scripted answers at start
        {"operation": "ResendConfirmationCode", "username": null,
         "errors": ["@daily-email-limit*3"]}
    ]}

In a pool with ``username_attributes`` a user's ``username`` is the e-mail or phone number
it signs up with; the stored username is then a UUID, as Cognito makes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.contrib.emulator import synthetic
from worker.contrib.emulator.common import new_user
from worker.contrib.emulator.config import EmulatorConfig
from worker.contrib.emulator.errors import ServiceError
from worker.contrib.emulator.schema import build_schema, check_user_attributes
from worker.contrib.emulator.state import AppClient, Directory, Pool

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
    case_sensitive = raw.get("case_sensitive")
    if case_sensitive is not None and not isinstance(case_sensitive, bool):
        raise SeedError(f"{where}: case_sensitive must be true or false")
    username_attributes = raw.get("username_attributes", [])
    if not isinstance(username_attributes, list) or not set(username_attributes) <= {
        "email",
        "phone_number",
    }:
        raise SeedError(f"{where}: username_attributes must list email/phone_number")
    try:
        schema = build_schema(raw.get("schema"))
    except ServiceError as exc:
        raise SeedError(f"{where}: schema: {exc.message}") from None
    pool = Pool(
        id=pool_id,
        name=_text(raw, "name", where, default=pool_id),
        schema=schema,
        region=pool_id.split("_", 1)[0],
        auto_verified_attributes=tuple(verified),
        email_sending_account=sending,
        case_sensitive_setting=case_sensitive,
        username_attributes=tuple(username_attributes),
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
        prevent = entry.get("prevent_user_existence_errors", "LEGACY")
        if prevent not in ("LEGACY", "ENABLED"):
            raise SeedError(f"{spot}: prevent_user_existence_errors must be LEGACY or ENABLED")
        client = AppClient(
            id=client_id,
            name=_text(entry, "name", spot, default=client_id),
            pool_id=pool.id,
            secret=secret,
            prevent_user_existence_errors=prevent,
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
        if pool.get_user(username) is not None:
            raise SeedError(f"{spot}: duplicate username {username!r}")
        try:
            user = new_user(
                pool,
                username,
                sub=directory.new_sub(),
                status=status,
                password=str(entry.get("password", "")),
                attributes={k: str(v) for k, v in attributes.items()},
            )
            check_user_attributes(pool.schema, user.attributes, sign_up=False)
        except ServiceError as exc:
            raise SeedError(f"{spot}: {exc.message}") from None
        pool.add_user(user)


def _load_scripts(entries: Any, path: Path) -> list[dict[str, Any]]:
    """The seed's ``scripts``: a list of {"operation", "username"?, "errors"} objects."""
    if not isinstance(entries, list):
        raise SeedError(f"{path}: 'scripts' must be a list")
    scripts: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        spot = f"scripts[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"operation", "username", "errors"}:
            raise SeedError(f"{spot}: a script is an object with operation, username, errors")
        username = entry.get("username")
        if username is not None and not isinstance(username, str):
            raise SeedError(f"{spot}: 'username' must be a string or null")
        if not isinstance(entry.get("errors"), list):
            raise SeedError(f"{spot}: 'errors' must be a list")
        scripts.append(
            {
                "operation": _text(entry, "operation", spot),
                "username": username,
                "errors": entry["errors"],
                "where": spot,
            }
        )
    return scripts


def _synthetic_pool(config: EmulatorConfig) -> Pool:
    pool = Pool(
        id=synthetic.pool_id(config.region),
        name="synthetic",
        region=config.region,
        synthetic_count=config.synthetic_users,
        case_sensitive_setting=False,  # as the console creates pools
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
        directory.scripts = _load_scripts(document.get("scripts", []), path)
    if config.synthetic_users > 0:
        directory.add_pool(_synthetic_pool(config))
    return directory
