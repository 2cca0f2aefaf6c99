"""The security suite's principals, token files and stack, shared by its tests and conftest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from tests.support.front import LiveFront
from worker.contrib.emulator.pools import UserPool
from worker.runtime import Runtime

FULL_TOKEN = "full-access-token-6c1e0b"  # COURIER_API_TOKENS: full access


TOKENS = {
    "signup-service": "signup-token-9a8b7c6d5e",
    "verifier": "verifier-token-1f2e3d4c5b",
    "ops-console": "ops-token-0a1b2c3d4e5f",
    "public-app": "public-app-token-7e6d5c4b3a",
    "secret-app": "secret-app-token-3a4b5c6d7e",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tokens_file(path: Path, pool: UserPool) -> Path:
    """COURIER_API_TOKENS_FILE for the suite: SHA-256 of each token, never the token."""

    def digest(name: str) -> str:
        return hashlib.sha256(TOKENS[name].encode()).hexdigest()

    document = {
        "signup-service": {
            "sha256": digest("signup-service"),
            "clients": [pool.client_id],
            "scopes": ["resend"],
        },
        "verifier": {"sha256": digest("verifier"), "clients": "*", "scopes": ["verify-attribute"]},
        "ops-console": {
            "sha256": digest("ops-console"),
            "clients": "*",
            "scopes": ["resend", "verify-attribute", "campaigns", "read-all"],
        },
        # one tenant per app client: verify-attribute tokens and campaigns of its own only
        "public-app": {
            "sha256": digest("public-app"),
            "clients": [pool.client_id],
            "scopes": ["verify-attribute", "campaigns"],
        },
        "secret-app": {
            "sha256": digest("secret-app"),
            "clients": [pool.secret_client_id],
            "scopes": ["verify-attribute", "campaigns"],
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def clients_file(path: Path, pool: UserPool) -> Path:
    """COURIER_CLIENTS naming the pool's two clients (the registry makes client_id checked)."""
    document = {
        pool.client_id: {"user_pool_id": pool.pool_id},
        pool.secret_client_id: {"user_pool_id": pool.pool_id, "secret": pool.client_secret},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@dataclass
class Stack:
    """The running front and what a test needs beside it."""

    front: LiveFront
    runtime: Runtime
    pool: UserPool

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.front.url, headers=bearer(token), timeout=30)

    @property
    def redis(self) -> redis.Redis:
        return self.runtime.redis
