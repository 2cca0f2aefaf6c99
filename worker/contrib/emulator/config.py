"""What an emulator run looks like: quotas, latency, faults, seed data. Values check themselves.

:class:`EmulatorConfig` is built once (from Python or from the ``courier emulator`` flags)
and may be changed at run time through :meth:`EmulatorConfig.updated`, which is what
``POST /_emulator/config`` and :meth:`EmulatorHandle.configure` use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["EmulatorConfig", "FaultConfig", "LatencyConfig"]

JitterDistribution = Literal["uniform", "exponential"]

DEFAULT_FAULT_OPERATIONS: tuple[str, ...] = (
    "ResendConfirmationCode",
    "GetUserAttributeVerificationCode",
    "ListUsers",
)


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class LatencyConfig:
    """Added answer time: ``fixed_ms`` plus a jitter of mean/width ``jitter_ms``.

    ``distribution`` ``uniform`` draws the jitter from [0, jitter_ms]; ``exponential``
    draws it with mean ``jitter_ms``. Applies to :attr:`FaultConfig.operations`.
    """

    fixed_ms: float = 0.0
    jitter_ms: float = 0.0
    distribution: JitterDistribution = "uniform"

    def __post_init__(self) -> None:
        if self.fixed_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency fixed_ms and jitter_ms must be >= 0")
        if self.distribution not in ("uniform", "exponential"):
            raise ValueError(f"unknown jitter distribution {self.distribution!r}")

    @property
    def enabled(self) -> bool:
        """True when any latency is added."""
        return self.fixed_ms > 0 or self.jitter_ms > 0


@dataclass(frozen=True)
class FaultConfig:
    """Random faults, each a probability per call (0..1), drawn from the seeded generator.

    ``internal_error`` answers ``InternalErrorException`` (HTTP 500, JSON);
    ``bare_5xx`` answers ``bare_5xx_status`` with an HTML body and no ``__type``;
    ``drop`` closes the connection without an answer; ``slow`` delays the (normal)
    answer by ``slow_ms``. Only ``operations`` are affected.
    """

    internal_error: float = 0.0
    bare_5xx: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    slow_ms: float = 2000.0
    bare_5xx_status: int = 500
    operations: tuple[str, ...] = DEFAULT_FAULT_OPERATIONS

    def __post_init__(self) -> None:
        for name in ("internal_error", "bare_5xx", "drop", "slow"):
            _check_rate(name, getattr(self, name))
        if self.internal_error + self.bare_5xx + self.drop + self.slow > 1.0:
            raise ValueError("fault rates must add up to at most 1")
        if self.slow_ms < 0:
            raise ValueError("slow_ms must be >= 0")
        if not 500 <= self.bare_5xx_status <= 599:
            raise ValueError("bare_5xx_status must be a 5xx status")
        object.__setattr__(self, "operations", tuple(self.operations))

    @property
    def enabled(self) -> bool:
        """True when any fault may be injected."""
        return (self.internal_error + self.bare_5xx + self.drop + self.slow) > 0


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an emulator run needs; every field has a usable default.

    Quotas are per account (all pools together), in requests per second, per Cognito
    category: ``user_resource_read_per_second`` covers ResendConfirmationCode and
    GetUserAttributeVerificationCode, ``user_list_per_second`` covers ListUsers. ``None``
    means unlimited. ``burst`` is the token-bucket capacity of every category (``None``:
    the category's own rate). ``per_user_hourly_cap`` is Cognito's 5 codes per user per
    rolling hour and operation (0 disables it). ``synthetic_users`` > 0 adds the lazily
    generated pool ``<region>_Synthetic1`` (see :mod:`worker.contrib.emulator.synthetic`).
    ``daily_email_limit`` > 0 models the account's default e-mail sender quota (Cognito:
    50 e-mails a day): pools sending with ``COGNITO_DEFAULT`` answer LimitExceededException
    "Exceeded daily email limit ..." past it, per Region and UTC day (0: no limit).
    ``scripts`` holds (operation, entry) pairs scripted for any user at start and after a
    pool reset (entries as :mod:`worker.contrib.emulator.faults` reads them; ``courier emulator
    --script OPERATION=ENTRY``).
    ``print_codes`` writes one stdout line per delivered code (``courier emulator
    --print-codes``): ``code <6 digits> for <username> in <pool id> (<operation>,
    <medium> to <destination>)``.
    """

    region: str = "us-east-1"
    user_resource_read_per_second: float | None = 50.0
    user_list_per_second: float | None = 30.0
    burst: float | None = None
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    synthetic_users: int = 0
    seed_file: Path | None = None
    access_token_lifetime_seconds: float = 3600.0
    per_user_hourly_cap: int = 5
    daily_email_limit: int = 0
    scripts: tuple[tuple[str, str], ...] = ()
    print_codes: bool = False

    def __post_init__(self) -> None:
        for name in ("user_resource_read_per_second", "user_list_per_second", "burst"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None (unlimited), got {value!r}")
        if self.synthetic_users < 0 or self.synthetic_users > 9_999_999:
            raise ValueError("synthetic_users must be between 0 and 9,999,999")
        if self.access_token_lifetime_seconds <= 0:
            raise ValueError("access_token_lifetime_seconds must be > 0")
        if self.per_user_hourly_cap < 0:
            raise ValueError("per_user_hourly_cap must be >= 0 (0 disables the cap)")
        if self.daily_email_limit < 0:
            raise ValueError("daily_email_limit must be >= 0 (0 disables the limit)")
        if not self.region or "_" in self.region:
            raise ValueError(f"invalid region {self.region!r}")
        object.__setattr__(self, "scripts", tuple((str(o), str(e)) for o, e in self.scripts))

    def updated(self, **changes: Any) -> EmulatorConfig:
        """A copy with ``changes`` applied; ``latency``/``faults`` may be partial dicts.

        Raises ``ValueError`` for an unknown name or a value that fails its check.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        resolved = dict(changes)
        for name, kind in (("latency", LatencyConfig), ("faults", FaultConfig)):
            value = resolved.get(name)
            if isinstance(value, dict):
                current = getattr(self, name)
                try:
                    resolved[name] = dataclasses.replace(current, **value)
                except TypeError as exc:
                    raise ValueError(f"{name}: {exc}") from None
            elif value is not None and not isinstance(value, kind):
                raise ValueError(f"{name} must be a {kind.__name__} or a dict")
        if "seed_file" in resolved and isinstance(resolved["seed_file"], str):
            resolved["seed_file"] = Path(resolved["seed_file"])
        return dataclasses.replace(self, **resolved)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (paths as strings, tuples as lists)."""
        data = dataclasses.asdict(self)
        data["seed_file"] = str(self.seed_file) if self.seed_file else None
        data["faults"]["operations"] = list(self.faults.operations)
        data["scripts"] = [list(pair) for pair in self.scripts]
        return data
