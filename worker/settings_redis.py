"""The Redis part of the settings: where Redis is and what it may be trusted with.

:class:`worker.settings.Settings` extends :class:`RedisSettings`; processes read the one
:class:`~worker.settings.Settings` object (``load_settings``), never this class alone.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.broker.urls import RedisTarget, parse_redis_url

__all__ = ["RedisSettings"]


class RedisSettings(BaseSettings):
    """COURIER_REDIS_* variables: the URL (one endpoint or Sentinel), timeouts, eviction
    and replica policy."""

    model_config = SettingsConfigDict(
        env_prefix="COURIER_", frozen=True, extra="ignore", populate_by_name=True
    )

    redis_url: str = Field(
        default="redis://localhost:6379/0",
        description="Redis for the broker, results, status store and limiter state.",
    )
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="Password of the sentinels themselves, when they have one."
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
    redis_maxmemory_policy: Literal["noeviction"] | None = Field(
        default=None,
        description=(
            "Declares the Redis's maxmemory-policy where CONFIG and INFO are forbidden (ACL "
            "users); only noeviction is accepted, and a policy Redis does report still wins."
        ),
    )
    redis_min_replicas: int | None = Field(
        default=None,
        ge=0,
        le=16,
        description=(
            "Replicas a submission and a recorded outcome wait for (WAIT), so they survive "
            "a failover; None: the connected replicas the primary reports, at most 1; 0: off."
        ),
    )

    @field_validator("redis_maxmemory_policy", mode="before")
    @classmethod
    def _check_declared_policy(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if str(value).strip().lower() != "noeviction":
            raise ValueError(
                f"only noeviction can be declared, not {value!r} (an evicting Redis is "
                "refused; COURIER_REDIS_ALLOW_EVICTION=true accepts that risk instead)"
            )
        return "noeviction"

    @field_validator("redis_min_replicas", mode="before")
    @classmethod
    def _empty_replicas(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        parse_redis_url(value)  # names what is wrong, never the URL's userinfo
        return value

    @property
    def redis_target(self) -> RedisTarget:
        """COURIER_REDIS_URL parsed (:mod:`worker.broker.urls`), with the sentinels' password.

        Parsed at each use (microseconds), so a ``model_copy`` with another URL is right."""
        password = self.redis_sentinel_password
        return parse_redis_url(
            self.redis_url, sentinel_password=password.get_secret_value() if password else None
        )
