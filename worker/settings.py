"""The one settings object, built from ``COURIER_*`` environment variables and read once.

Every option is optional; units are in the names. Build it with :func:`load_settings`
(which turns pydantic's validation errors into :class:`~worker.errors.ConfigurationError`
naming the variable) and pass it down; nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.connection import parse_url

from worker.errors import ConfigurationError

__all__ = ["Settings", "load_settings"]

_ONE_WEEK_SECONDS = 7 * 24 * 3600


class Settings(BaseSettings):
    """Typed view of the environment. Construct through :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="COURIER_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    # --- where things are -------------------------------------------------------------
    redis_url: str = Field(
        default="redis://localhost:6379/0",
        description="Redis for the broker, results, status store and limiter state.",
    )
    redis_connect_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        description="How long a connection attempt to Redis may take before it is given up.",
    )
    redis_allow_eviction: bool = Field(
        default=False,
        description=(
            "Accept a Redis whose maxmemory-policy may evict keys (warns at every start); "
            "without it workers, the HTTP front and producers refuse such a Redis."
        ),
    )
    cognito_endpoint_url: str | None = Field(
        default=None, description="Cognito endpoint override (the emulator); None is real AWS."
    )
    cognito_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("COURIER_COGNITO_REGION", "AWS_REGION"),
        description="AWS Region of the user pools.",
    )
    client_secrets: Path | None = Field(
        default=None, description="Path to a JSON file {client_id: client_secret}."
    )
    seal_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet key (urlsafe base64, 32 bytes) that seals AccessTokens in Redis. "
            "Producers and workers must share it. Generate with `courier seal-key`."
        ),
    )
    api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer tokens accepted by the HTTP front."
    )

    # --- budgets -------------------------------------------------------------------------
    rate_limit: float = Field(
        default=40.0,
        gt=0,
        description="UserResourceRead budget in calls/s for all workers together.",
    )
    bulk_share: float = Field(
        default=0.8, gt=0, le=1, description="Largest share of the budget campaigns may take."
    )
    userlist_rate_limit: float = Field(
        default=25.0, gt=0, description="UserList (ListUsers) budget in calls/s."
    )
    rate_floor_fraction: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Adaptive rate never drops below this fraction of the budget.",
    )
    rate_decrease_factor: float = Field(
        default=0.5, gt=0, lt=1, description="Multiplier applied to the rate on a throttle."
    )
    rate_recovery_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Time the adaptive rate takes to climb from the floor back to the budget.",
    )
    permit_wait_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest a call waits for a permit from the limiter."
    )
    user_hourly_cap: int = Field(
        default=5, ge=1, description="Calls per user per operation per hour Cognito allows."
    )

    # --- calls and retries ---------------------------------------------------------------
    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    read_timeout_seconds: float = Field(default=10.0, gt=0)
    retry_max_attempts: int = Field(
        default=6, ge=1, description="Attempts per job, the first included."
    )
    retry_base_seconds: float = Field(default=0.2, gt=0, description="First backoff ceiling.")
    retry_cap_seconds: float = Field(default=10.0, gt=0, description="Largest backoff ceiling.")
    retry_max_seconds: float = Field(
        default=120.0, gt=0, description="Total time a job may spend retrying."
    )

    # --- the worker ----------------------------------------------------------------------
    worker_concurrency: int | None = Field(
        default=None, ge=1, description="Threads per worker; None sizes it from the budget."
    )
    visibility_timeout_seconds: int = Field(
        default=900,
        ge=10,
        description=(
            "Seconds before an unacknowledged message is redelivered; above the longest "
            "a task can run (retries plus permit waits)."
        ),
    )
    status_ttl_seconds: int = Field(
        default=_ONE_WEEK_SECONDS, ge=60, description="How long job status documents live."
    )
    campaign_watchdog_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Period at which every worker pumps running campaigns (crash recovery).",
    )
    campaign_ttl_seconds: int = Field(
        default=_ONE_WEEK_SECONDS * 2, ge=60, description="How long campaign data lives."
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        try:
            parse_url(value)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ValueError(f"not a Redis URL ({exc})") from None
        return value

    @field_validator("cognito_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @field_validator("client_secrets")
    @classmethod
    def _check_secrets_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        _read_client_secrets(value)  # fail at start-up, not at the first job
        return value

    @model_validator(mode="after")
    def _check_visibility(self) -> Settings:
        longest = self.longest_call_seconds
        if self.visibility_timeout_seconds <= longest:
            raise ValueError(
                f"COURIER_VISIBILITY_TIMEOUT_SECONDS ({self.visibility_timeout_seconds}) must "
                f"exceed the longest a task can run ({longest:.0f} s: retries + permit wait "
                "+ read timeout)"
            )
        return self

    @property
    def longest_call_seconds(self) -> float:
        """The longest one request's delivery can take: retries, permit waits, last read."""
        return self.retry_max_seconds + self.permit_wait_max_seconds + self.read_timeout_seconds

    @cached_property
    def client_secret_map(self) -> dict[str, str]:
        """The client secrets file as a mapping; empty when none is configured."""
        return {} if self.client_secrets is None else _read_client_secrets(self.client_secrets)

    @property
    def concurrency(self) -> int:
        """Threads per worker: enough to keep the budget busy at ~250 ms per call."""
        if self.worker_concurrency is not None:
            return self.worker_concurrency
        return max(4, min(64, math.ceil(self.rate_limit / 4)))


def _read_client_secrets(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in raw.items()
    ):
        raise ValueError(f"{path} must be a JSON object mapping client ids to client secrets")
    return dict(raw)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment (and ``overrides``, for tests).

    Raises:
        ConfigurationError: naming each variable that is malformed.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            variable = f"COURIER_{name.upper()}" if name != "settings" else "settings"
            problems.append(f"{variable}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
