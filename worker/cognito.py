"""The Cognito gateway: one boto3 client per process, and every answer classified.

botocore's own retries are off (``total_max_attempts=1``): botocore's ``standard`` and
``adaptive`` modes retry LimitExceededException, which cannot clear within the hour, and
bypass the shared limiter. :mod:`worker.delivery` owns every retry decision by asking the
error tree (:mod:`worker.errors`). The classification of each documented code:

==========================================  ==========================  ==========
Cognito error code                          class                       retried
==========================================  ==========================  ==========
TooManyRequestsException                    ThrottledError              yes
ThrottlingException (generic AWS)           ThrottledError              yes
InternalErrorException                      ServiceFaultError           yes
ServiceUnavailable, bare 5xx                ServiceFaultError           yes
connect/read timeout, dropped connection    ServiceFaultError           yes
LimitExceededException                      UserLimitExceededError      no
ResourceNotFoundException                   RequestRejectedError        no
InvalidParameterException                   RequestRejectedError        no
UnexpectedLambdaException                   RequestRejectedError        no
UserLambdaValidationException               RequestRejectedError        no
NotAuthorizedException                      RequestRejectedError        no
InvalidLambdaResponseException              RequestRejectedError        no
InvalidSmsRoleAccessPolicyException         RequestRejectedError        no
InvalidSmsRoleTrustRelationshipException    RequestRejectedError        no
InvalidEmailRoleAccessPolicyException       RequestRejectedError        no
CodeDeliveryFailureException                RequestRejectedError        no
UserNotFoundException                       RequestRejectedError        no
OperationNotEnabledException                RequestRejectedError        no
ForbiddenException                          RequestRejectedError        no
PasswordResetRequiredException              RequestRejectedError        no
UserNotConfirmedException                   RequestRejectedError        no
any other 4xx code                          RequestRejectedError        no
==========================================  ==========================  ==========

CodeDeliveryFailureException is not retried: the code may have been sent, and a retry
would spend one of the user's five hourly calls for nothing certain.

botocore logs request and response bodies (AccessTokens included) at DEBUG. Importing this
module raises the ``botocore``, ``boto3`` and ``urllib3`` loggers to INFO, so no DEBUG
setting of the root logger can put a token in a log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from worker.errors import (
    CognitoError,
    ConfigurationError,
    RequestRejectedError,
    ServiceFaultError,
    ThrottledError,
    UserLimitExceededError,
)
from worker.identity.regions import RegionResolver, default_region
from worker.ratelimit.freshness import refuse_stale_send
from worker.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = [
    "THROTTLE_CODES",
    "TRANSIENT_CODES",
    "CognitoGateway",
    "compute_secret_hash",
    "make_client",
    "pool_connections",
    "to_cognito_error",
]

_WIRE_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def _quiet_wire_loggers() -> None:
    for name in _WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET (inherit) or DEBUG
            logger.setLevel(logging.INFO)


_quiet_wire_loggers()

THROTTLE_CODES = frozenset({"TooManyRequestsException", "ThrottlingException"})
TRANSIENT_CODES = frozenset({"InternalErrorException", "ServiceUnavailable"})
USER_CAP_CODE = "LimitExceededException"


def compute_secret_hash(client_id: str, username: str, client_secret: str) -> str:
    """Base64(HMAC_SHA256(key=client secret, msg=username + client id)), as Cognito wants."""
    digest = hmac.new(
        client_secret.encode("utf-8"), (username + client_id).encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def make_client(
    settings: Settings,
    *,
    region: str | None = None,
    signed: bool = False,
    threads: int | None = None,
) -> CognitoIdentityProviderClient:
    """Build a cognito-idp client with botocore retries off and explicit timeouts.

    ``region`` defaults to the default Region (:func:`worker.identity.regions.default_region`).
    ``threads`` is how many threads of this process may call at once (the worker's real
    thread count); the connection pool is sized from it so no thread's connection is
    discarded ("Connection pool is full", boto/botocore#619). ``signed=False`` signs when
    AWS credentials exist and sends unsigned requests when none do (both code operations
    are unauthenticated). ``signed=True`` is for IAM operations (ListUsers,
    DescribeUserPool).

    Raises:
        ConfigurationError: ``signed=True`` and no AWS credentials can be found, or
            AWS_PROFILE names a profile that does not exist.
    """
    try:
        session = boto3.session.Session()
        has_credentials = session.get_credentials() is not None
    except ProfileNotFound as exc:
        raise ConfigurationError(f"{exc} (AWS_PROFILE)") from None
    if signed and not has_credentials:
        raise ConfigurationError(
            "this needs AWS IAM credentials (ListUsers and DescribeUserPool are IAM "
            "operations): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role"
        )
    options: dict[str, Any] = {
        "region_name": region or default_region(settings),
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": settings.connect_timeout_seconds,
        "read_timeout": settings.read_timeout_seconds,
        "max_pool_connections": pool_connections(settings, threads),
        "user_agent_extra": "cognito-courier",
    }
    if not has_credentials:
        options["signature_version"] = UNSIGNED
    client: CognitoIdentityProviderClient = session.client(
        "cognito-idp",
        endpoint_url=settings.cognito_endpoint_url,
        config=Config(**options),
    )
    # a call that would leave too long after its permit is refused unsent (see the module)
    client.meta.events.register("before-send", refuse_stale_send)
    return client


def pool_connections(settings: Settings, threads: int | None) -> int:
    """Connections per boto3 client: one per calling thread plus a few for the process's
    own threads (watchdog, campaign senders); ``threads`` None: the configured concurrency.
    """
    return max(10, (threads if threads is not None else settings.concurrency) + 4)


def to_cognito_error(exc: Exception) -> CognitoError:
    """Classify a botocore failure into the error tree (see the table above)."""
    if isinstance(exc, CognitoError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = str(error.get("Code") or f"HTTP{status}")
        message = str(error.get("Message") or f"HTTP {status} from Cognito")
        if code in THROTTLE_CODES:
            return ThrottledError(code, message)
        if code == USER_CAP_CODE:
            return UserLimitExceededError(code, message)
        if code in TRANSIENT_CODES or status >= 500:
            if code.isdigit():
                code = f"HTTP{code}"
            return ServiceFaultError(code, message)
        return RequestRejectedError(code, message)
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError):
        return ServiceFaultError("CourierTimeout", f"no answer from Cognito in time: {exc}")
    if isinstance(exc, ConnectionClosedError | EndpointConnectionError | BotoConnectionError):
        return ServiceFaultError("CourierConnectionError", f"connection to Cognito failed: {exc}")
    if isinstance(exc, NoCredentialsError):
        return RequestRejectedError("CourierNoCredentials", str(exc))
    if isinstance(exc, BotoCoreError):
        return ServiceFaultError("CourierTransportError", f"{type(exc).__name__}: {exc}")
    raise TypeError(f"not a Cognito failure: {type(exc).__name__}") from exc


class CognitoGateway:
    """Calls the two code operations; one per process, shared by its threads.

    Holds one boto3 client per Region, made on the first call to that Region (so building
    a gateway touches neither the network nor the AWS configuration: producers build one
    and never call it).

    Args:
        settings: the settings.
        client: one client for every Region (tests); None makes one per Region.
        threads: the worker's thread count (sizes each client's connection pool).
    """

    def __init__(
        self,
        settings: Settings,
        client: CognitoIdentityProviderClient | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        self._settings = settings
        self._registry = settings.client_registry
        self._fixed = client
        self._threads = threads
        self._lock = threading.Lock()
        self._by_region: dict[str, CognitoIdentityProviderClient] = {}
        self.regions = RegionResolver(settings, self._registry)

    @classmethod
    def from_settings(cls, settings: Settings, *, threads: int | None = None) -> CognitoGateway:
        """A gateway for ``settings`` (no boto3 client is made until the first call)."""
        return cls(settings, threads=threads)

    def client_for(self, region: str) -> CognitoIdentityProviderClient:
        """This process's boto3 client for ``region`` (made once, then shared)."""
        if self._fixed is not None:
            return self._fixed
        client = self._by_region.get(region)
        if client is None:
            with self._lock:
                client = self._by_region.get(region)
                if client is None:
                    client = make_client(self._settings, region=region, threads=self._threads)
                    self._by_region[region] = client
        return client

    def client_regions(self) -> list[str]:
        """The Regions this process has made a client for; sorted."""
        return sorted(self._by_region)

    def secret_hash_for(self, client_id: str, username: str) -> str | None:
        """The SecretHash from the registry's secret, or None for a client without one."""
        secret = self._registry.secret_for(client_id)
        return None if secret is None else compute_secret_hash(client_id, username, secret)

    def resend_confirmation_code(
        self,
        client_id: str,
        username: str,
        *,
        secret_hash: str | None = None,
        client_metadata: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Call ResendConfirmationCode once; returns CodeDeliveryDetails as Cognito sent it.

        Raises:
            CognitoError: the classified failure (see the module table).
        """
        params: dict[str, Any] = {"ClientId": client_id, "Username": username}
        secret_hash = secret_hash or self.secret_hash_for(client_id, username)
        if secret_hash is not None:
            params["SecretHash"] = secret_hash
        if client_metadata:
            params["ClientMetadata"] = client_metadata
        try:
            client = self.client_for(self.regions.for_client(client_id))
            response = client.resend_confirmation_code(**params)
        except (ClientError, BotoCoreError) as exc:
            raise to_cognito_error(exc) from None
        return dict(response.get("CodeDeliveryDetails", {}))  # type: ignore[arg-type]

    def get_user_attribute_verification_code(
        self,
        access_token: str,
        attribute_name: str,
        *,
        client_metadata: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Call GetUserAttributeVerificationCode once; returns CodeDeliveryDetails.

        Raises:
            CognitoError: the classified failure (see the module table). The message never
            holds the token: botocore does not echo parameters into errors, and the
            exception chain is cut (``from None``) so no frame holding it is kept.
        """
        params: dict[str, Any] = {"AccessToken": access_token, "AttributeName": attribute_name}
        if client_metadata:
            params["ClientMetadata"] = client_metadata
        try:
            client = self.client_for(self.regions.for_token(access_token))
            response = client.get_user_attribute_verification_code(**params)
        except (ClientError, BotoCoreError) as exc:
            raise to_cognito_error(exc) from None
        return dict(response.get("CodeDeliveryDetails", {}))  # type: ignore[arg-type]
