"""The test-side handle: a boto3 client factory plus the ``/_emulator/`` inspection API.

Everything goes over HTTP, so a handle works as well for an emulator in another process
(:meth:`EmulatorHandle.connect`) as for one from :func:`running_emulator`.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

    from worker.contrib.emulator.pools import UserPool

__all__ = ["EmulatorError", "EmulatorHandle", "EmulatorUnavailableError"]


class EmulatorError(Exception):
    """Raised when an ``/_emulator/`` call is refused (the emulator's message is included)."""


class EmulatorUnavailableError(EmulatorError, ConnectionError):
    """Raised when nothing answers at the endpoint (an ``OSError``, so callers may poll)."""


class EmulatorHandle:
    """Inspect and steer one emulator at ``endpoint_url``."""

    def __init__(self, endpoint_url: str, *, region: str | None = None) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self._region = region

    @classmethod
    def connect(cls, endpoint_url: str) -> EmulatorHandle:
        """A handle for an emulator in another process (e.g. ``courier emulator``).

        Sends nothing yet, so it may be made before the emulator answers; the region is
        asked for on first use of :attr:`region`.
        """
        return cls(endpoint_url)

    @property
    def region(self) -> str:
        """The emulator's region (asked from ``/_emulator/health`` once when not given)."""
        if self._region is None:
            self._region = str(self.health().get("region", "us-east-1"))
        return self._region

    def __repr__(self) -> str:
        return f"EmulatorHandle({self.endpoint_url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's own
            self.endpoint_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            exc.close()
            raise EmulatorError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise EmulatorUnavailableError(f"{method} {path}: {exc}") from None

    def client(self) -> CognitoIdentityProviderClient:
        """A boto3 cognito-idp client for this emulator: dummy credentials, no retries."""
        import boto3  # noqa: PLC0415 - boto3 only for callers that want a client
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "cognito-idp",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="emulator",
            aws_secret_access_key="emulator",  # noqa: S106 - the emulator checks no signature
            config=Config(retries={"total_max_attempts": 1}),
        )

    def make_pool(self, name: str = "courier", **options: Any) -> UserPool:
        """A new user pool in this emulator, made through a fresh :meth:`client`.

        ``options`` are :func:`worker.contrib.emulator.pools.make_pool`'s (``case_sensitive``,
        ``auto_verified``, ``password``); raises botocore's
        ``ClientError`` when the emulator refuses a call.
        """
        from worker.contrib.emulator.pools import make_pool  # noqa: PLC0415 - boto3 on demand

        return make_pool(self.client(), name, **options)

    def health(self) -> dict[str, Any]:
        """Region and pools (with client ids and secrets)."""
        result: dict[str, Any] = self._call("GET", "/_emulator/health")
        return result

    def deliveries(self, username: str | None = None) -> list[dict[str, Any]]:
        """Recorded code deliveries, oldest first; only ``username``'s when given."""
        query = "?" + urllib.parse.urlencode({"username": username}) if username else ""
        result: list[dict[str, Any]] = self._call("GET", "/_emulator/deliveries" + query)[
            "deliveries"
        ]
        return result

    def stats(self) -> dict[str, Any]:
        """Per-second and total call counts (see ``docs/emulator.md``)."""
        result: dict[str, Any] = self._call("GET", "/_emulator/stats")
        return result

    def reset(self, *, pools: bool = False) -> None:
        """Clear deliveries, stats, per-user caps, outstanding codes and scripts; ``pools``
        re-seeds the pools."""
        self._call("POST", "/_emulator/reset", {"pools": pools})

    def configure(self, **changes: Any) -> None:
        """Change quotas, burst, latency, faults, seed, caps or token lifetime at run time.

        ``latency`` and ``faults`` take dicts of the fields to change, e.g.
        ``configure(user_resource_read_per_second=5, faults={"drop": 0.1})``.
        """
        self._call("POST", "/_emulator/config", _jsonable(changes))

    def config(self) -> dict[str, Any]:
        """The configuration in force."""
        result: dict[str, Any] = self._call("GET", "/_emulator/config")["config"]
        return result

    def script(
        self,
        *,
        operation: str,
        errors: list[str | dict[str, str]],
        username: str | None = None,
    ) -> None:
        """The next calls of ``operation`` (for the user ``username`` designates) answer these.

        Each entry is an error code (``"Code"`` or ``"Code:message"``, or
        ``{"code": ..., "message": ...}``), a named Cognito answer (``"@daily-email-limit"``,
        ``"@attempt-limit"``, ``"@throttled"``), a 5xx status such as ``"500"`` (bare HTML
        answer), ``"drop"`` or ``"slow:<ms>"``; a string entry ending in ``*N`` counts N
        times. Raises :class:`EmulatorError` for an unreadable entry.
        """
        self._call(
            "POST",
            "/_emulator/script",
            {"operation": operation, "errors": list(errors), "username": username},
        )


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in changes.items():
        is_instance = dataclasses.is_dataclass(value) and not isinstance(value, type)
        out[key] = dataclasses.asdict(value) if is_instance else value
    return out
