"""Seal secrets (AccessTokens, SecretHashes) before they touch Redis.

A sealed value is a Fernet token (AES-128-CBC + HMAC-SHA256, with a timestamp) made with
COURIER_SEAL_KEY, which producers and workers share and Redis never sees. Broker messages
carry only sealed values, and the task's ``argsrepr``/``kwargsrepr`` (what Celery events
and Flower show) carry ``<sealed>`` in their place.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from worker.errors import ConfigurationError, SealError
from worker.settings import Settings

__all__ = ["REDACTED", "Sealer", "generate_key"]

REDACTED = "<sealed>"


def generate_key() -> str:
    """A fresh key for COURIER_SEAL_KEY (urlsafe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


class Sealer:
    """Seals and opens secrets with the configured key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ConfigurationError(
                "COURIER_SEAL_KEY: not a valid key (32 url-safe base64-encoded bytes); "
                "generate one with `courier seal-key`"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        """The sealer for ``settings``.

        Raises:
            ConfigurationError: COURIER_SEAL_KEY is unset or malformed.
        """
        if settings.seal_key is None:
            raise ConfigurationError(
                "COURIER_SEAL_KEY is not set: AccessTokens and SecretHashes are sealed before "
                "they reach Redis; generate a key with `courier seal-key` and give the same "
                "one to producers and workers"
            )
        return cls(settings.seal_key.get_secret_value())

    def seal(self, secret: str) -> str:
        """Encrypt ``secret``; the result is safe to store in Redis."""
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """Decrypt a value made by :meth:`seal`.

        Raises:
            SealError: the value was sealed with another key, or is not a sealed value.
        """
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SealError(
                "cannot open a sealed secret: producers and workers must share COURIER_SEAL_KEY"
            ) from None
