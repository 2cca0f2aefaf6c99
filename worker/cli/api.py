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
                "Local run: without COURIER_API_TOKENS, generate a bearer token and print it "
                "once on stderr."
            ),
        ),
    ] = False,
) -> None:
    """Serve the HTTP front (/?Action=..., /jobs, /campaigns, /metrics, /healthz).

    Refuses to start without COURIER_API_TOKENS unless ``--dev`` is given, when Redis does
    not answer (exit 3) and when Redis may evict keys (exit 2; see
    COURIER_REDIS_ALLOW_EVICTION). uvicorn's access log is off (it prints query strings,
    where the GET form carries AccessTokens); the front logs each request's method, path
    and status instead.
    """
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from worker.api import create_app  # noqa: PLC0415 - importing tasks reads settings
    from worker.broker import check_eviction_policy  # noqa: PLC0415
    from worker.logs import configure_logging  # noqa: PLC0415
    from worker.runtime import Runtime, set_runtime  # noqa: PLC0415
    from worker.settings import load_settings  # noqa: PLC0415

    settings = load_settings()
    if not settings.api_tokens and dev:
        token = secrets.token_urlsafe(32)
        settings = settings.model_copy(update={"api_tokens": [SecretStr(token)]})
        # Plain text on one line (no rich wrapping): it is meant to be copied.
        sys.stderr.write(f"dev run: bearer token for this process: {token}\n")
        sys.stderr.flush()
    app = create_app(settings)  # ConfigurationError without a token: `courier` exits 2
    runtime = Runtime.from_settings(settings)
    set_runtime(runtime)
    configure_logging(settings.log_format, logging.INFO)
    # Start-up check: Redis answers and does not evict (BrokerUnavailable: exit 3,
    # EvictingRedisError: exit 2, both reported by `courier`'s main).
    check_eviction_policy(runtime.redis, settings, role="HTTP front")
    if settings.seal_key is None:
        logging.getLogger("worker.api").warning(
            "COURIER_SEAL_KEY is not set: requests with an AccessToken or a SecretHash will "
            "fail (500 InternalFailure) until it is; workers need the same key"
        )
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=True,
    )
