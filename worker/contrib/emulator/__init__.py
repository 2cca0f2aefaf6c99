"""A local Amazon Cognito user-pools emulator that the real boto3 client talks to.

Dev, test, demo and benchmark use only: nothing on the production path imports it.
It serves the AWS JSON 1.1 protocol (ResendConfirmationCode,
GetUserAttributeVerificationCode, ListUsers and the set-up calls), the pool settings that
change Cognito's answers (case-insensitive usernames, e-mail/phone usernames,
PreventUserExistenceErrors, an attribute schema), RS256 tokens with a JWKS per pool at
``/<pool id>/.well-known/jwks.json``, Cognito's quotas and per-user cap, latency and fault
injection, and an inspection API under ``/_emulator/``. See ``docs/emulator.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from worker.contrib.emulator.config import EmulatorConfig, FaultConfig, LatencyConfig
from worker.contrib.emulator.handle import EmulatorError, EmulatorHandle, EmulatorUnavailableError
from worker.contrib.emulator.synthetic import (
    PUBLIC_CLIENT_ID,
    SECRET_CLIENT_ID,
    SYNTHETIC_PASSWORD,
    client_secret,
    pool_id,
)

__all__ = [
    # running it
    "EmulatorConfig",
    "EmulatorError",
    "EmulatorHandle",
    "EmulatorUnavailableError",
    "FaultConfig",
    "LatencyConfig",
    "running_emulator",
    # the synthetic pool's fixed ids
    "PUBLIC_CLIENT_ID",
    "SECRET_CLIENT_ID",
    "SYNTHETIC_PASSWORD",
    "synthetic_client_secret",
    "synthetic_pool_id",
]

synthetic_client_secret = client_secret
synthetic_pool_id = pool_id


@contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[EmulatorHandle]:
    """Serve an emulator in a background thread while the block runs; yields its handle.

    ``port`` 0 picks a free port. Imports the server (aiohttp) only when called.
    """
    from worker.contrib.emulator.runner import (  # noqa: PLC0415 - aiohttp only when serving
        running_emulator as _running,
    )

    with _running(config, host=host, port=port) as handle:
        yield handle
