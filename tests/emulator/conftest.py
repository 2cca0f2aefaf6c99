"""Fixtures: an in-process emulator per test, a boto3 client on it, and a small pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from worker.contrib.emulator import EmulatorConfig, EmulatorHandle, running_emulator
from worker.contrib.emulator.pools import UserPool, make_pool


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    """Override in a test module (or parametrize) to start the emulator differently."""
    return EmulatorConfig(synthetic_users=1000)


@pytest.fixture
def emulator(emulator_config: EmulatorConfig) -> Iterator[EmulatorHandle]:
    with running_emulator(emulator_config) as handle:
        yield handle


@pytest.fixture
def cognito(emulator: EmulatorHandle) -> Any:
    return emulator.client()


@pytest.fixture
def pool(cognito: Any) -> UserPool:
    """A pool ``test`` with a public client and a client with a secret."""
    return make_pool(cognito, "test")


@pytest.fixture
def sign_up(pool: UserPool) -> Callable[..., str]:
    """Sign a user up through the public client; returns the username."""

    def make(username: str, *, email: str | None = None, phone: str | None = None) -> str:
        return pool.add_user(username, email=email, phone_number=phone)

    return make


@pytest.fixture
def access_token(pool: UserPool, sign_up: Callable[..., str]) -> str:
    """An access token of the confirmed user ``carol`` (email and phone set)."""
    sign_up("carol", email="carol@example.org", phone="+12065550100")
    pool.cognito.admin_confirm_sign_up(UserPoolId=pool.pool_id, Username="carol")
    return pool.access_token("carol")
