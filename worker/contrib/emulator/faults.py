"""Latency and fault injection: random at configured rates, or scripted for tests.

Random draws come from generators seeded with the run's seed, so a sequential driver sees
the same faults at the same calls every run. A script says "the next K calls of operation
O (for username U, or any user) answer E", where E is

* an error code, optionally with a message: ``"Code"`` or ``"Code:message"`` (the
  message is everything after the first colon, colons included), or an object
  ``{"code": ..., "message": ...}``;
* a named Cognito answer ``"@daily-email-limit"``, ``"@attempt-limit"`` or
  ``"@throttled"`` (:data:`worker.contrib.emulator.errors.PRESETS`);
* a 5xx status such as ``"500"`` (bare HTML answer), ``"drop"`` (close the connection
  without an answer) or ``"slow:<ms>"`` (answer normally after a delay).

A string entry may end in ``*N`` to stand for N copies (``"@daily-email-limit*50"``).
Scripted entries are used before random faults.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from worker.contrib.emulator.config import FaultConfig, LatencyConfig
from worker.contrib.emulator.errors import PRESETS

__all__ = ["MAX_SCRIPT_ENTRIES", "Fault", "FaultInjector", "expand_script", "parse_fault"]

MAX_SCRIPT_ENTRIES = 1_000_000
_REPEAT = re.compile(r"(.*)\*([0-9]+)", re.DOTALL)

FaultKind = Literal["error", "bare", "drop", "slow"]


@dataclass(frozen=True)
class Fault:
    """One injected outcome; ``code``/``message`` for errors, ``status`` for bare answers."""

    kind: FaultKind
    code: str | None = None
    message: str | None = None
    status: int = 500
    delay_ms: float = 0.0


def parse_fault(entry: str | dict[str, Any]) -> Fault:
    """The fault one script entry names (no ``*N``); ``ValueError`` when unreadable."""
    if isinstance(entry, dict):
        code, message = entry.get("code"), entry.get("message")
        if not isinstance(code, str) or not code.isidentifier():
            raise ValueError(f"a scripted error object needs a 'code' identifier: {entry!r}")
        if message is not None and not isinstance(message, str):
            raise ValueError(f"'message' must be a string: {entry!r}")
        if set(entry) - {"code", "message"}:
            raise ValueError(f"unknown keys in {entry!r} (code, message)")
        return Fault("error", code=code, message=message)
    text = entry
    entry = text.strip()
    if entry.startswith("@"):
        preset = PRESETS.get(entry[1:])
        if preset is None:
            raise ValueError(f"unknown named answer {text!r} (known: @{', @'.join(PRESETS)})")
        return Fault("error", code=preset[0], message=preset[1])
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


def expand_script(entries: Iterable[str | dict[str, Any]]) -> list[Fault]:
    """The faults a script's entries stand for, ``*N`` repeats expanded.

    Raises ``ValueError`` for an unreadable entry or more than
    :data:`MAX_SCRIPT_ENTRIES` faults in all.
    """
    faults: list[Fault] = []
    for raw in entries:
        entry, count = raw, 1
        if isinstance(raw, str):
            repeat = _REPEAT.fullmatch(raw.strip())
            if repeat is not None:
                entry, count = repeat.group(1), int(repeat.group(2))
        elif not isinstance(raw, dict):
            raise ValueError(f"a script entry must be a string or an object, got {raw!r}")
        fault = parse_fault(entry)
        if len(faults) + count > MAX_SCRIPT_ENTRIES:
            raise ValueError(f"a script may hold at most {MAX_SCRIPT_ENTRIES:,} entries")
        faults.extend([fault] * count)
    return faults


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

    def add_script(
        self, operation: str, errors: list[str | dict[str, Any]], username: str | None
    ) -> int:
        """Queue ``errors`` for the next matching calls; the number of faults queued.

        Raises ``ValueError`` when an entry is unreadable (nothing is queued then).
        """
        parsed = deque(expand_script(errors))
        if parsed:
            self._scripts.append(_Script(operation, username, parsed))
        return len(parsed)

    def clear_scripts(self) -> None:
        """Drop every scripted entry not yet used."""
        self._scripts.clear()

    @property
    def has_scripts(self) -> bool:
        """True while a scripted entry waits."""
        return bool(self._scripts)

    def scripted(self, operation: str, is_user: Callable[[str], bool]) -> Fault | None:
        """Take the next scripted fault for this call, if any.

        ``is_user(name)`` tells whether a script's username designates this call's user.
        """
        for script in self._scripts:
            if script.operation == operation and (
                script.username is None or is_user(script.username)
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
