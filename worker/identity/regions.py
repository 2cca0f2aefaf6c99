"""Which AWS Region a call goes to.

- ResendConfirmationCode: the Region of the client's pool (its id's prefix, from the
  registry in :mod:`worker.identity.clients`); a client whose pool is unknown goes to the default
  Region.
- GetUserAttributeVerificationCode: the Region of the pool that issued the token (the
  ``iss`` claim ends with the pool id: ``https://cognito-idp.<region>.amazonaws.com/<pool
  id>``, Cognito developer guide, "Verifying a JSON web token"); else the default Region.
- The default Region: ``COURIER_COGNITO_REGION``, else boto3's own lookup (``AWS_REGION``,
  then botocore's ``AWS_DEFAULT_REGION`` and the profile's ``region``), else us-east-1.

Only workers resolve the default Region (it may read an AWS profile); producers never
call anything here.
"""

from __future__ import annotations

import botocore.session
from botocore.exceptions import BotoCoreError, ProfileNotFound

from worker.errors import ConfigurationError
from worker.identity.clients import ClientRegistry, pool_region_or_none
from worker.settings import Settings

__all__ = ["FALLBACK_REGION", "RegionResolver", "default_region"]

FALLBACK_REGION = "us-east-1"


def default_region(settings: Settings) -> str:
    """The Region of clients whose pool is unknown (see the module for the order).

    Raises:
        ConfigurationError: AWS_PROFILE names a profile that does not exist, or the AWS
            config file cannot be parsed.
    """
    if settings.cognito_region is not None:
        return settings.cognito_region
    if settings.aws_region is not None:
        return settings.aws_region
    try:
        region = botocore.session.Session().get_config_variable("region")
    except ProfileNotFound as exc:
        raise ConfigurationError(
            f"{exc} (AWS_PROFILE): fix it or set COURIER_COGNITO_REGION"
        ) from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"cannot read the AWS configuration: {exc}") from None
    return region if isinstance(region, str) and region else FALLBACK_REGION


class RegionResolver:
    """The Region of each call; the default Region is resolved once, on first need.

    Args:
        settings: the settings (for the default Region).
        registry: the client registry.
    """

    def __init__(self, settings: Settings, registry: ClientRegistry) -> None:
        self._settings = settings
        self._registry = registry
        self._default: str | None = None

    @property
    def default(self) -> str:
        """The default Region (raises ConfigurationError as :func:`default_region`)."""
        if self._default is None:
            self._default = default_region(self._settings)
        return self._default

    def for_client(self, client_id: str) -> str:
        """The Region of ``client_id``'s pool, else the default Region."""
        return self._registry.lookup(client_id).region or self.default

    def for_pool(self, user_pool_id: str | None) -> str:
        """The Region of ``user_pool_id`` (an AccessToken's issuing pool:
        :attr:`worker.identity.tokens.VerifiedToken.user_pool_id`), else the default Region."""
        return pool_region_or_none(user_pool_id) or self.default
