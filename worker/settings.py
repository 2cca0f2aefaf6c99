"""The one settings object, built from ``COURIER_*`` environment variables and read once.

Every option is optional; units are in the names. Build it with :func:`load_settings`
(which turns pydantic's validation errors into :class:`~worker.errors.ConfigurationError`
naming the variable) and pass it down; nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import NoDecode, SettingsConfigDict

from worker.errors import ConfigurationError
from worker.identity.clients import (
    ClientRegistry,
    check_region,
    read_client_secrets,
    read_clients_file,
)
from worker.identity.principals import read_api_tokens_file
from worker.settings_observe import ObserveSettings
from worker.settings_redis import RedisSettings

__all__ = ["Settings", "load_settings"]

_ONE_WEEK_SECONDS = 7 * 24 * 3600
_FILE_READERS: dict[str, Callable[[Path], object]] = {
    "client_secrets": read_client_secrets,
    "clients": read_clients_file,
    "api_tokens_file": read_api_tokens_file,
}


class Settings(RedisSettings, ObserveSettings):
    """Typed view of the environment. Construct through :func:`load_settings`.

    The Redis variables are declared in :class:`worker.settings_redis.RedisSettings`, the
    operators' (logs, metrics, Flower) in :class:`worker.settings_observe.ObserveSettings`;
    this is still the one settings object every process reads."""

    model_config = SettingsConfigDict(
        env_prefix="COURIER_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        # inf and nan are no budget, timeout or share: refused naming the variable.
        allow_inf_nan=False,
    )

    # --- where things are (Redis: worker.settings_redis) -------------------------------
    cognito_endpoint_url: str | None = Field(
        default=None, description="Cognito endpoint override (the emulator); None is real AWS."
    )
    cognito_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COURIER_COGNITO_REGION", "cognito_region"),
        description=(
            "AWS Region of clients whose pool is unknown; None: boto3's own lookup "
            "(AWS_REGION, AWS_DEFAULT_REGION, profile), else us-east-1 (worker.identity.regions)."
        ),
    )
    aws_region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_REGION", "aws_region"),
        description="AWS_REGION, read here so the Region lookup needs no os.environ.",
    )
    client_secrets: Path | None = Field(
        default=None, description="Path to a JSON file {client_id: client_secret}."
    )
    clients: Path | None = Field(
        default=None,
        description=(
            "Path to a JSON file {client_id: {user_pool_id, secret?, case_sensitive?}} "
            "(the client registry, worker.identity.clients)."
        ),
    )
    seal_key: SecretStr | None = Field(
        default=None,
        description=(
            "Fernet key (urlsafe base64, 32 bytes) that seals AccessTokens in Redis. "
            "Producers and workers must share it. Generate with `courier seal-key`."
        ),
    )
    api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Full-access bearer tokens of the HTTP front."
    )
    api_tokens_file: Path | None = Field(
        default=None, description="Named, scoped front tokens (worker.identity.principals)."
    )
    api_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description=(
            "The HTTP front closes a connection whose request line and headers have not "
            "all arrived this long after the connection opened or its first byte came."
        ),
    )
    api_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="The HTTP front answers 408 to a body that takes longer to arrive.",
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
    rate_floor_per_second: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="Adaptive rate never drops below this (calls/s; the budget if lower).",
    )
    rate_decrease_factor: float = Field(
        default=0.5, gt=0, lt=1, description="Multiplier applied to the rate on a throttle."
    )
    rate_recovery_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Climb after a throttle: ceiling/this calls/s per second; also the hold.",
    )
    permit_wait_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest a call waits for a permit from the limiter."
    )
    user_hourly_cap: int = Field(
        default=5, ge=1, description="Calls per user per operation per hour Cognito allows."
    )

    # --- calls and retries ---------------------------------------------------------------
    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    read_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description=(
            "Longest wait for Cognito's answer once a request left; after it the call is "
            "ambiguous (it may have delivered). 20 s covers a Lambda trigger's 3 attempts of "
            "5 s each (Amazon Cognito Developer Guide, 'Customizing user pool workflows "
            "with Lambda triggers') plus Cognito's own work."
        ),
    )
    ambiguous_retries: int = Field(
        default=1,
        ge=0,
        le=4,
        description=(
            "Further calls allowed after a call whose answer never came (it may have "
            "delivered a code); 0 sends nothing after one."
        ),
    )
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
        default=2.0,
        gt=0,
        description=(
            "Period of every worker's watchdog: pumps running campaigns and reaps work whose "
            "holder stopped heartbeating."
        ),
    )
    lease_seconds: float = Field(
        default=15.0,
        ge=3,
        description=(
            "A holder of work (campaign chunk, interactive job) that sends no heartbeat for "
            "this long is presumed dead and its work is handed on."
        ),
    )
    heartbeat_seconds: float = Field(
        default=3.0,
        gt=0,
        description="Period at which a worker renews the leases of the work it holds.",
    )
    redis_wait_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Longest that work in hand waits for an unreachable Redis before handing its "
            "lease back."
        ),
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=60,
        description="How long an idempotency key returns the job it created (worker.dedupe).",
    )
    coalesce_succeeded_seconds: float = Field(
        default=0.0,
        ge=0,
        description=(
            "How long after succeeding a job still answers identical requests; 0: only "
            "while it is queued, running or retrying."
        ),
    )
    campaign_ttl_seconds: int = Field(
        default=_ONE_WEEK_SECONDS * 2, ge=60, description="How long campaign data lives."
    )

    @field_validator("cognito_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        try:  # nothing of the value in the message: it may hold a password
            parts = urlsplit(value)
            valid = parts.scheme in ("http", "https") and parts.port != 0 and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid or "@" in parts.netloc:
            raise ValueError("must be http(s)://host[:port], percent-encoded, no user:password@")
        return value.rstrip("/")

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @field_validator("cognito_region", "aws_region", mode="before")
    @classmethod
    def _check_region(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check_region(str(value).strip())

    @field_validator("client_secrets", "clients", "api_tokens_file", mode="before")
    @classmethod
    def _empty_path(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("client_secrets", "clients", "api_tokens_file")
    @classmethod
    def _check_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None:  # fail at start-up naming the file and entry, not at first use
            _FILE_READERS[str(info.field_name)](value)
        return value

    @model_validator(mode="after")
    def _check_registry(self) -> Settings:
        try:  # each file was checked alone above; what is left is how they agree
            _ = self.client_registry
        except ValueError as exc:
            message = f"COURIER_CLIENTS and COURIER_CLIENT_SECRETS disagree: {exc}"
            raise ValueError(message) from None
        return self

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

    @model_validator(mode="after")
    def _check_heartbeat(self) -> Settings:
        if self.heartbeat_seconds * 3 > self.lease_seconds:
            raise ValueError(
                f"COURIER_HEARTBEAT_SECONDS ({self.heartbeat_seconds:g}) must be at most a "
                f"third of COURIER_LEASE_SECONDS ({self.lease_seconds:g}), so one late "
                "heartbeat does not lose a live holder's work"
            )
        return self

    @property
    def longest_call_seconds(self) -> float:
        """The longest one request's delivery can take: retries, permit waits, last read."""
        return self.retry_max_seconds + self.permit_wait_max_seconds + self.read_timeout_seconds

    @cached_property
    def client_registry(self) -> ClientRegistry:
        """COURIER_CLIENTS and COURIER_CLIENT_SECRETS merged (:mod:`worker.identity.clients`).

        Its ``default_region`` is COURIER_COGNITO_REGION when set, else None: the rest of
        the lookup (AWS_REGION, AWS_DEFAULT_REGION, profile) is :mod:`worker.identity.regions`'s,
        on workers only, so a producer never reads an AWS profile.

        Raises:
            ValueError: a file is unreadable or an entry malformed (naming it).
        """
        return ClientRegistry.from_files(
            clients_file=self.clients,
            secrets_file=self.client_secrets,
            default_region=self.cognito_region,
        )

    @property
    def concurrency(self) -> int:
        """Threads per worker: enough to keep the budget busy at ~250 ms per call."""
        if self.worker_concurrency is not None:
            return self.worker_concurrency
        return max(4, min(64, math.ceil(self.rate_limit / 4)))


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
            problems.append(_problem(variable, error))
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


def _problem(variable: str, error: ErrorDetails) -> str:
    """One variable's problem, naming it once: a validator's own message as it wrote it
    (without pydantic's "Value error, " prefix), after the variable's name unless the
    message starts with it."""
    raised = error.get("ctx", {}).get("error") if error["type"] == "value_error" else None
    message = str(raised) if raised is not None else str(error["msg"])
    return message if message.startswith(variable) else f"{variable}: {message}"
