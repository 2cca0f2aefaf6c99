"""The Cognito gateway: every Cognito call of the project, and every answer classified.

One gateway per process holds one unsigned and one signed (IAM) boto3 client per Region,
each made on first need: the two code operations go unsigned-or-signed (they need no IAM
credentials), ListUsers and DescribeUserPool signed. Callers say which Region a call
goes to (:func:`worker.delivery.deliver` resolves it once per request).

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
connect timeout, refused (nothing left)     ServiceFaultError           yes
read timeout, closed after sending          AmbiguousCallError          bounded
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

**Ambiguous calls.** A read timeout (botocore ``ReadTimeoutError``) or a connection
closed after the request was written (``ConnectionClosedError``, any other
``HTTPClientError``) means the request left and no answer came: Cognito may have sent the
code. Such a call is an :class:`~worker.errors.AmbiguousCallError`: after one, at most
COURIER_AMBIGUOUS_RETRIES more calls go out (:mod:`worker.delivery`). A connect timeout
or a refused connection (``ConnectTimeoutError``, ``EndpointConnectionError``) sent
nothing and is retried within the usual bounds. The read timeout,
COURIER_READ_TIMEOUT_SECONDS, defaults to 20 s, above Cognito's slowest legitimate
answer: "Amazon Cognito invokes Lambda functions synchronously. When called, your Lambda
function must respond within 5 seconds. If it does not, Amazon Cognito retries the call.
After 3 unsuccessful attempts, the function times out." (Amazon Cognito Developer Guide,
"Customizing user pool workflows with Lambda triggers"): 3 x 5 s = 15 s of trigger time,
plus Cognito's own work and the network.

CodeDeliveryFailureException is not retried: the code may have been sent, and a retry
would spend one of the user's five hourly calls for nothing certain. Whom each answer is
about (the user, or the pool, client or account: a campaign pauses) is
:data:`worker.errors.ANSWER_SCOPES`.

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
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from worker.errors import (
    AmbiguousCallError,
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
    """Classify a botocore failure into the error tree (see the table above).

    Raises:
        TypeError: ``exc`` is no botocore failure (nor already a CognitoError).
    """
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
    if isinstance(exc, ConnectTimeoutError):  # nothing left: before ReadTimeoutError's check
        return ServiceFaultError("CourierConnectTimeout", f"no connection in time: {exc}")
    if isinstance(exc, ReadTimeoutError):
        return AmbiguousCallError(
            "CourierTimeout", f"sent, no answer from Cognito in time (may have delivered): {exc}"
        )
    if isinstance(exc, EndpointConnectionError | BotoConnectionError):
        return ServiceFaultError("CourierConnectionError", f"connection to Cognito failed: {exc}")
    if isinstance(exc, HTTPClientError):  # ConnectionClosedError and the like: after sending
        return AmbiguousCallError(
            "CourierConnectionError",
            f"connection closed after sending, no answer (may have delivered): {exc}",
        )
    if isinstance(exc, NoCredentialsError):
        return RequestRejectedError("CourierNoCredentials", str(exc))
    if isinstance(exc, BotoCoreError):
        return ServiceFaultError("CourierTransportError", f"{type(exc).__name__}: {exc}")
    raise TypeError(f"not a Cognito failure: {type(exc).__name__}") from exc


class CognitoGateway:
    """Every Cognito call of one process, shared by its threads.

    Holds one unsigned and one signed boto3 client per Region, each made on its first
    call (so building a gateway touches neither the network nor the AWS configuration:
    producers build one and never call it).

    Args:
        settings: the settings.
        client: one client for every Region and both kinds (tests); None makes them.
        threads: the worker's thread count (sizes each client's connection pool).
    """

    def __init__(
        self,
        settings: Settings,
        client: CognitoIdentityProviderClient | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        self.settings = settings
        self._registry = settings.client_registry
        self._fixed = client
        self._threads = threads
        self._lock = threading.Lock()
        self._by_region: dict[tuple[str, bool], CognitoIdentityProviderClient] = {}
        self.regions = RegionResolver(settings, self._registry)

    @classmethod
    def from_settings(cls, settings: Settings, *, threads: int | None = None) -> CognitoGateway:
        """A gateway for ``settings`` (no boto3 client is made until the first call)."""
        return cls(settings, threads=threads)

    def client_for(self, region: str, *, signed: bool = False) -> CognitoIdentityProviderClient:
        """This process's boto3 client for ``region`` (made once, then shared).

        ``signed`` True: the IAM client (ListUsers, DescribeUserPool).

        Raises:
            ConfigurationError: as :func:`make_client` (no credentials for a signed one).
        """
        if self._fixed is not None:
            return self._fixed
        client = self._by_region.get((region, signed))
        if client is None:
            with self._lock:
                client = self._by_region.get((region, signed))
                if client is None:
                    client = make_client(
                        self.settings, region=region, signed=signed, threads=self._threads
                    )
                    self._by_region[(region, signed)] = client
        return client

    def pool_region(self, user_pool_id: str | None) -> str:
        """The Region of ``user_pool_id`` (its id's prefix), else the default Region."""
        return self.regions.for_pool(user_pool_id)

    def require_signed(self, user_pool_id: str | None = None) -> None:
        """Check that IAM calls can be made for ``user_pool_id``'s Region.

        Raises:
            ConfigurationError: no AWS credentials, or a missing AWS_PROFILE.
        """
        self.client_for(self.pool_region(user_pool_id), signed=True)

    def secret_hash_for(self, client_id: str, username: str) -> str | None:
        """The SecretHash from the registry's secret, or None for a client without one."""
        secret = self._registry.secret_for(client_id)
        return None if secret is None else compute_secret_hash(client_id, username, secret)

    def resend_confirmation_code(
        self,
        client_id: str,
        username: str,
        *,
        region: str,
        secret_hash: str | None = None,
        client_metadata: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Call ResendConfirmationCode once in ``region``; returns CodeDeliveryDetails.

        Raises:
            CognitoError: the classified failure (see the module table).
        """
        params: dict[str, Any] = {"ClientId": client_id, "Username": username}
        secret_hash = secret_hash or self.secret_hash_for(client_id, username)
        if secret_hash is not None:
            params["SecretHash"] = secret_hash
        if client_metadata:
            params["ClientMetadata"] = client_metadata
        response = self._call(region, False, "resend_confirmation_code", params)
        return dict(response.get("CodeDeliveryDetails", {}))

    def get_user_attribute_verification_code(
        self,
        access_token: str,
        attribute_name: str,
        *,
        region: str,
        client_metadata: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Call GetUserAttributeVerificationCode once in ``region``; returns
        CodeDeliveryDetails.

        Raises:
            CognitoError: the classified failure (see the module table). The message never
            holds the token: botocore does not echo parameters into errors, and the
            exception chain is cut (``from None``) so no frame holding it is kept.
        """
        params: dict[str, Any] = {"AccessToken": access_token, "AttributeName": attribute_name}
        if client_metadata:
            params["ClientMetadata"] = client_metadata
        response = self._call(region, False, "get_user_attribute_verification_code", params)
        return dict(response.get("CodeDeliveryDetails", {}))

    def list_users(self, user_pool_id: str, **params: Any) -> dict[str, Any]:
        """One ListUsers page of ``user_pool_id`` (signed; ``params`` as boto3 takes them).

        Raises:
            CognitoError: the classified failure.
            ConfigurationError: no AWS credentials.
        """
        region = self.pool_region(user_pool_id)
        page = self._call(region, True, "list_users", {"UserPoolId": user_pool_id, **params})
        return dict(page)

    def describe_user_pool(self, user_pool_id: str) -> dict[str, Any]:
        """DescribeUserPool's ``UserPool`` for ``user_pool_id`` (signed).

        Raises:
            CognitoError: the classified failure.
            ConfigurationError: no AWS credentials.
        """
        region = self.pool_region(user_pool_id)
        answer = self._call(region, True, "describe_user_pool", {"UserPoolId": user_pool_id})
        return dict(answer.get("UserPool") or {})

    def _call(self, region: str, signed: bool, name: str, params: dict[str, Any]) -> Any:
        client = self.client_for(region, signed=signed)
        try:
            return getattr(client, name)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise to_cognito_error(exc) from None
