"""Pools for the identity tests: one case-insensitive pool with two app clients, one
case-sensitive pool, made in the emulator through boto3, and a registry naming them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from worker.app import BULK_QUEUE, INTERACTIVE_QUEUE, app
from worker.contrib.emulator import EmulatorHandle
from worker.runtime import Runtime
from worker.settings import Settings

PASSWORD = "Correct-Horse-9"


@dataclass
class Pools:
    """The pools and clients the registry names."""

    client: Any
    folded_pool: str
    web: str  # client 1 of the case-insensitive pool
    mobile: str  # client 2 of the same pool
    exact_pool: str
    exact: str  # the case-sensitive pool's client, declared case_sensitive
    registry: dict[str, dict[str, Any]]

    def add_user(self, client_id: str, username: str | None = None) -> str:
        """Sign an UNCONFIRMED user up through ``client_id``; returns the username."""
        name = username or f"u{uuid.uuid4().hex[:10]}"
        self.client.sign_up(
            ClientId=client_id,
            Username=name,
            Password=PASSWORD,
            UserAttributes=[{"Name": "email", "Value": f"{name.lower()}@example.com"}],
        )
        return name


def _client(client: Any, pool_id: str, name: str) -> str:
    made = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=name,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    return str(made["UserPoolClient"]["ClientId"])


@pytest.fixture
def pools(emulator: EmulatorHandle) -> Pools:
    client = emulator.client()
    folded = client.create_user_pool(
        PoolName="folded",
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": False},
    )["UserPool"]["Id"]
    exact = client.create_user_pool(
        PoolName="exact",
        AutoVerifiedAttributes=["email"],
        UsernameConfiguration={"CaseSensitive": True},
    )["UserPool"]["Id"]
    web, mobile = _client(client, folded, "web"), _client(client, folded, "mobile")
    exact_client = _client(client, exact, "exact")
    registry = {
        web: {"user_pool_id": folded},
        mobile: {"user_pool_id": folded},
        exact_client: {"user_pool_id": exact, "case_sensitive": True},
    }
    return Pools(client, folded, web, mobile, exact, exact_client, registry)


@pytest.fixture
def settings(make_settings: Any, pools: Pools, tmp_path: Path) -> Settings:
    """The suite's settings, with COURIER_CLIENTS naming the pools above."""
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(pools.registry), encoding="utf-8")
    result: Settings = make_settings(clients=path)
    return result


@pytest.fixture
def paused_worker(celery_worker_session: Any, runtime: Runtime) -> Iterator[None]:
    """The worker stops consuming: submissions stay queued until the test lets it go."""
    hostname = [celery_worker_session.hostname]
    for queue in (INTERACTIVE_QUEUE, BULK_QUEUE):
        assert app.control.cancel_consumer(queue, destination=hostname, reply=True)
    try:
        yield
    finally:
        app.control.purge()  # what the test left queued is not the next test's
        for queue in (INTERACTIVE_QUEUE, BULK_QUEUE):
            app.control.add_consumer(queue, destination=hostname, reply=True)
