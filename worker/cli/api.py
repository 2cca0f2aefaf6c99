"""``courier api``: serve the HTTP front with uvicorn."""

from __future__ import annotations

import logging
import secrets
import sys
from typing import Annotated

import typer
from pydantic import SecretStr

__all__ = ["api"]


def api(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help=(
                "Local run: without COURIER_API_TOKENS and COURIER_API_TOKENS_FILE, generate a "
                "full-access bearer token and print it once on stderr; without "
                "COURIER_SEAL_KEY, serve no token operations."
            ),
        ),
    ] = False,
    without_token_operations: Annotated[
        bool,
        typer.Option(
            "--without-token-operations",
            help=(
                "Serve no request carrying an AccessToken or a SecretHash (they answer 400 "
                "UnsupportedOperation), so COURIER_SEAL_KEY is not needed."
            ),
        ),
    ] = False,
) -> None:
    """Serve the HTTP front (/?Action=..., /jobs, /campaigns, /ui/, /openapi.json, /healthz).

    Refuses to start without a bearer token (COURIER_API_TOKENS: full access;
    COURIER_API_TOKENS_FILE: named, scoped, stored as SHA-256) unless --dev is given, or
    with a malformed tokens file, and without a
    valid COURIER_SEAL_KEY unless --without-token-operations (or --dev) is given;
    it refuses a Redis that does not answer (exit 3) or may evict keys (exit 2; see
    COURIER_REDIS_ALLOW_EVICTION).
    A request head must arrive within COURIER_API_HEADER_TIMEOUT_SECONDS (10) and a body
    within COURIER_API_BODY_TIMEOUT_SECONDS (30). uvicorn's access log is off (it prints
    query strings, where the GET form carries AccessTokens); the front logs each request's
    method, path and status instead.
    """
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from worker.api import create_app  # noqa: PLC0415 - the front and the tasks only now
    from worker.api.server import server_config  # noqa: PLC0415
    from worker.broker.door import check_eviction_policy  # noqa: PLC0415
    from worker.cli.context import command_settings  # noqa: PLC0415
    from worker.observe.logs import configure_logging  # noqa: PLC0415
    from worker.runtime import Runtime, set_runtime  # noqa: PLC0415

    settings = command_settings()
    if not settings.api_tokens and settings.api_tokens_file is None and dev:
        token = secrets.token_urlsafe(32)
        settings = settings.model_copy(update={"api_tokens": [SecretStr(token)]})
        # Plain text on one line (no rich wrapping): it is meant to be copied.
        sys.stderr.write(f"dev run: bearer token for this process: {token}\n")
        sys.stderr.flush()
    token_operations = not without_token_operations
    if dev and settings.seal_key is None and token_operations:
        token_operations = False
        sys.stderr.write(
            "dev run: COURIER_SEAL_KEY is not set: requests carrying an AccessToken or a "
            "SecretHash answer 400 UnsupportedOperation\n"
        )
    # ConfigurationError (no token, no or a bad seal key): `courier` exits 2
    app = create_app(settings, token_operations=token_operations)
    runtime = Runtime.from_settings(settings)
    set_runtime(runtime)
    configure_logging(settings.log_format, logging.INFO)
    # Start-up check: Redis answers and does not evict (BrokerUnavailable: exit 3,
    # EvictingRedisError: exit 2, both reported by `courier`'s main).
    check_eviction_policy(runtime.redis, settings, role="HTTP front")
    config = server_config(
        app,
        host=host,
        port=port,
        header_timeout_seconds=settings.api_header_timeout_seconds,
        proxy_headers=True,
    )
    uvicorn.Server(config).run()
