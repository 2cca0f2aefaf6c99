"""The one error tree of cognito-courier.

Every error the project raises on purpose derives from :class:`CourierError`. The retry
policy asks this tree (``isinstance(exc, TransientError)``), never string matches::

    CourierError
    ├── ConfigurationError          bad settings, unreadable secrets file, missing seal key
    │   └── EvictingRedisError      Redis may evict keys (maxmemory-policy not noeviction)
    ├── BrokerUnavailable           Redis cannot be reached (CLI exit status 3)
    ├── InvalidRequestError         bad input at the door: nothing is enqueued for it
    ├── SealError                   a sealed secret cannot be opened (wrong or missing key)
    ├── JobNotFoundError            no status document for a job id
    ├── WaitTimeoutError            a job did not reach a terminal state in the time given
    ├── CampaignError               a campaign cannot be created or driven as asked
    │   ├── CampaignNotFoundError   no campaign with that id
    │   └── NothingToSendError      a campaign's file or pool selection holds no usable user
    ├── PermitTimeoutError          the global limiter gave no permit within the bounded wait
    ├── StalePermitError            a call was about to leave too long after its permit
    ├── UserCapReachedError         the per-user guard refused: Cognito would answer LimitExceeded
    ├── JobFailedError              a job ended ``failed``: its task fails (Celery FAILURE, Flower)
    └── CognitoError                Cognito (or the network on the way) answered with a failure
        ├── TransientError          may succeed if tried again after a pause
        │   ├── ThrottledError      TooManyRequestsException: the shared quota was spent
        │   └── ServiceFaultError   InternalErrorException, bare 5xx, timeouts, dropped connections
        └── PermanentError          trying again cannot help
            ├── UserLimitExceededError   LimitExceededException: 5 per user per hour
            └── RequestRejectedError     every other documented Cognito error

Which Cognito error code lands in which class is the table in :mod:`worker.cognito`.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "CampaignError",
    "CampaignNotFoundError",
    "CognitoError",
    "ConfigurationError",
    "CourierError",
    "EvictingRedisError",
    "InvalidRequestError",
    "JobFailedError",
    "JobNotFoundError",
    "NothingToSendError",
    "PermanentError",
    "PermitTimeoutError",
    "RequestRejectedError",
    "SealError",
    "StalePermitError",
    "ServiceFaultError",
    "ThrottledError",
    "TransientError",
    "UserCapReachedError",
    "UserLimitExceededError",
    "WaitTimeoutError",
]


class CourierError(Exception):
    """Raised for every failure that cognito-courier reports on purpose."""


class ConfigurationError(CourierError):
    """Raised when a setting is missing, malformed or points at something unusable."""


class EvictingRedisError(ConfigurationError):
    """Raised at start-up when Redis may evict keys and COURIER_REDIS_ALLOW_EVICTION is off."""


class BrokerUnavailable(CourierError):
    """Raised when Redis (broker, status store, limiter) cannot be reached; names the URL.

    ``url`` is the Redis URL with any password masked. Producers see it within
    COURIER_REDIS_CONNECT_TIMEOUT_SECONDS; the CLI exits with status 3.
    """

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class InvalidRequestError(CourierError):
    """Raised when a producer's input breaks a Cognito model constraint; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SealError(CourierError):
    """Raised when a sealed secret cannot be opened with the configured key."""


class JobNotFoundError(CourierError):
    """Raised when no status document exists for a job id (never submitted, or expired)."""


class WaitTimeoutError(CourierError, TimeoutError):
    """Raised when a job does not reach a terminal state within the time a caller waits."""


class CampaignError(CourierError):
    """Raised when a campaign cannot be created, read or driven as asked."""


class CampaignNotFoundError(CampaignError):
    """Raised when no campaign exists with the given id (never created, or expired)."""


class NothingToSendError(CampaignError):
    """Raised when a campaign's file or pool selection holds no usable user (none created).

    ``document`` holds what was found (``total`` 0, ``rejected``, ``rejects``,
    ``duplicates``, ...) so a caller can show why.
    """

    def __init__(self, message: str, document: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.document: dict[str, object] = dict(document or {})


class PermitTimeoutError(CourierError):
    """Raised when the global rate limiter grants no permit within the bounded wait."""


class StalePermitError(CourierError):
    """Raised before sending when a call's permit is stale; a fresh permit is taken."""


class UserCapReachedError(CourierError):
    """Raised when the per-user guard refuses a call Cognito would refuse with LimitExceeded."""

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class JobFailedError(CourierError):
    """Raised by a job's task after it recorded ``failed``, so Celery and Flower show FAILURE.

    ``code`` and ``message`` are the status document's ``error`` (Cognito's error code, or
    a project code such as ``CourierPermitTimeout``). The task declares it in ``throws``:
    Celery logs it on one line without a traceback, never retries it, and (with
    ``task_acks_late``) acknowledges the message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CognitoError(CourierError):
    """Raised when Cognito, or the network on the way to it, answers a call with a failure."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientError(CognitoError):
    """Raised for a failure that may clear if the call is tried again after a pause."""


class ThrottledError(TransientError):
    """Raised when Cognito answers TooManyRequestsException: the shared quota was spent."""


class ServiceFaultError(TransientError):
    """Raised for InternalErrorException, bare 5xx answers, timeouts and dropped connections."""


class PermanentError(CognitoError):
    """Raised for a failure that trying again cannot clear."""


class UserLimitExceededError(PermanentError):
    """Raised when Cognito answers LimitExceededException: the per-user hourly cap is spent."""


class RequestRejectedError(PermanentError):
    """Raised for every other documented Cognito error: bad client, unknown user, and so on."""
