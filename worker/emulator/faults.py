"""Latency and fault injection: random at configured rates, or scripted for tests.

Random draws come from generators seeded with the run's seed, so a sequential driver sees
the same faults at the same calls every run. A script says "the next K calls of operation
O (for username U, or any user) answer E", where E is an error code (optionally
``Code:message``), a 5xx status such as ``"500"`` (bare HTML answer), ``"drop"`` (close
the connection without an answer) or ``"slow:<ms>"`` (answer normally after a delay).
Scripted entries are used before random faults.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from worker.emulator.config import FaultConfig, LatencyConfig

__all__ = ["Fault", "FaultInjector", "parse_fault"]

FaultKind = Literal["error", "bare", "drop", "slow"]


@dataclass(frozen=True)
class Fault:
    """One injected outcome; ``code``/``message`` for errors, ``status`` for bare answers."""

    kind: FaultKind
    code: str | None = None
    message: str | None = None
    status: int = 500
    delay_ms: float = 0.0


def parse_fault(text: str) -> Fault:
    """The fault a script entry names; raises ``ValueError`` for an unreadable entry."""
    entry = text.strip()
    if entry == "drop":
        return Fault("drop")
    if entry.startswith("slow:"):
        delay = float(entry.removeprefix("slow:"))
        if delay < 0:
            raise ValueError(f"negative delay in {text!r}")
        return Fault("slow", delay_ms=delay)
    if entry.isdigit():
        status = int(entry)
        if not 500 <= status <= 599:
            raise ValueError(f"bare answers must be 5xx, got {text!r}")
        return Fault("bare", status=status)
    code, _, message = entry.partition(":")
    if not code.isidentifier():
        raise ValueError(f"unreadable scripted error {text!r}")
    return Fault("error", code=code, message=message or None)


@dataclass
class _Script:
    operation: str
    username: str | None
    faults: deque[Fault] = field(default_factory=deque)


class FaultInjector:
    """Decides, per call, the injected fault (if any) and the added latency."""

    def __init__(self, faults: FaultConfig, latency: LatencyConfig, *, seed: int) -> None:
        self.faults = faults
        self.latency = latency
        self._scripts: list[_Script] = []
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart both random sequences from ``seed``."""
        self._fault_rng = random.Random(f"faults/{seed}")  # noqa: S311 - reproducible
        self._latency_rng = random.Random(f"latency/{seed}")  # noqa: S311

    def add_script(self, operation: str, errors: list[str], username: str | None) -> None:
        """Queue ``errors`` for the next matching calls; raises ``ValueError`` if unreadable."""
        parsed = deque(parse_fault(e) for e in errors)
        self._scripts.append(_Script(operation, username, parsed))

    def clear_scripts(self) -> None:
        """Drop every scripted entry not yet used."""
        self._scripts.clear()

    @property
    def has_scripts(self) -> bool:
        """True while a scripted entry waits."""
        return bool(self._scripts)

    def scripted(self, operation: str, username: str | None) -> Fault | None:
        """Take the next scripted fault for this call, if any."""
        for script in self._scripts:
            if script.operation == operation and (
                script.username is None or script.username == username
            ):
                fault = script.faults.popleft()
                if not script.faults:
                    self._scripts.remove(script)
                return fault
        return None

    def random_fault(self, operation: str) -> Fault | None:
        """A random fault at the configured rates (None for most calls)."""
        cfg = self.faults
        if not cfg.enabled or operation not in cfg.operations:
            return None
        draw = self._fault_rng.random()
        threshold = cfg.internal_error
        if draw < threshold:
            return Fault("error", code="InternalErrorException")
        threshold += cfg.bare_5xx
        if draw < threshold:
            return Fault("bare", status=cfg.bare_5xx_status)
        threshold += cfg.drop
        if draw < threshold:
            return Fault("drop")
        threshold += cfg.slow
        if draw < threshold:
            return Fault("slow", delay_ms=cfg.slow_ms)
        return None

    def latency_seconds(self, operation: str) -> float:
        """The latency to add to this call, in seconds (0 when none is configured)."""
        cfg = self.latency
        if not cfg.enabled or operation not in self.faults.operations:
            return 0.0
        jitter = 0.0
        if cfg.jitter_ms > 0:
            if cfg.distribution == "uniform":
                jitter = self._latency_rng.uniform(0.0, cfg.jitter_ms)
            else:
                jitter = self._latency_rng.expovariate(1.0 / cfg.jitter_ms)
        return (cfg.fixed_ms + jitter) / 1000.0
