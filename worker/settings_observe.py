"""The operators' part of the settings: log lines, a worker's /metrics, Flower's login.

:class:`worker.settings.Settings` extends :class:`ObserveSettings` (as it extends
:class:`~worker.settings_redis.RedisSettings`); processes read the one
:class:`~worker.settings.Settings` object (``load_settings``), never this class alone.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ObserveSettings"]


class ObserveSettings(BaseSettings):
    """COURIER_LOG_*, COURIER_METRICS_* and COURIER_FLOWER_BASIC_AUTH: what operators see."""

    model_config = SettingsConfigDict(
        env_prefix="COURIER_", frozen=True, extra="ignore", populate_by_name=True
    )

    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or one JSON object a line (worker, front and CLI).",
    )
    log_usernames: bool = Field(
        default=False,
        description=(
            "Name the user on campaign rows' log lines (failed, deferred, retried); "
            "off by default: a username is personal data."
        ),
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of a worker's Prometheus /metrics; None: not served.",
    )
    metrics_address: str = Field(
        default="127.0.0.1", description="Address a worker's /metrics binds (0.0.0.0: all)."
    )
    flower_basic_auth: SecretStr | None = Field(
        default=None,
        description="user:password (comma-separated for several) for `courier flower`.",
    )

    @field_validator("flower_basic_auth")
    @classmethod
    def _check_basic_auth(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for pair in value.get_secret_value().split(","):
            user, sep, password = pair.strip().partition(":")
            if not (user and sep and password):
                raise ValueError("must be user:password (comma-separated for several)")
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_port(cls, value: Any) -> Any:
        return None if value == "" else value
