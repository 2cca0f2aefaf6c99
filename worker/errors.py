"""The one error tree of cognito-courier.

Every error the project raises on purpose derives from :class:`CourierError`. The retry
policy asks this tree (``isinstance(exc, TransientError)``), never string matches::

    CourierError
    ├── ConfigurationError          bad settings, unreadable secrets file, missing seal key
    │   └── EvictingRedisError      Redis may evict keys (maxmemory-policy not noeviction)
    ├── BrokerUnavailable           Redis cannot be reached (CLI exit status 3)
    ├── RedisOutageError            Redis answers but cannot take the work now (also a
    │   │                           redis.ConnectionError: every outage path handles it)
    │   ├── RedisFailoverError      not the primary (READONLY, UNBLOCKED, MASTERDOWN)
    │   └── RedisFullError          Redis refuses writes at maxmemory (OOM, noeviction)
    ├── InvalidRequestError         bad input at the door: nothing is enqueued for it
    │   └── NotAuthorizedError      an AccessToken failed verification (signature, exp, iss...)
    ├── TokenKeysUnavailableError   a pool's JWKS cannot be fetched: a token cannot be verified yet
    ├── SealError                   a sealed secret cannot be opened (wrong or missing key)
    ├── JobNotFoundError            no status document for a job id
    ├── WaitTimeoutError            a job did not reach a terminal state in the time given
    ├── CampaignError               a campaign cannot be created or driven as asked
    │   ├── CampaignNotFoundError   no campaign with that id
    │   │   └── CampaignLostError   its keys are gone or partial: Redis lost its data
    │   ├── CampaignStateError      pause, resume or cancel means nothing in its state
    │   └── NothingToSendError      a campaign's file or pool selection holds no usable user
    ├── PermitTimeoutError          the global limiter gave no permit within the bounded wait
    ├── StalePermitError            a call was about to leave too long after its permit
    ├── UserCapReachedError         the per-user guard refused: Cognito would answer LimitExceeded
    ├── JobFailedError              a job ended ``failed``: its task fails (Celery FAILURE, Flower)
    ├── RowsFailedError             rows of a campaign chunk failed: the chunk task fails (Flower)
    └── CognitoError                Cognito (or the network on the way) answered with a failure
        ├── TransientError          may succeed if tried again after a pause
        │   ├── ThrottledError      TooManyRequestsException: the shared quota was spent
        │   └── ServiceFaultError   InternalErrorException, bare 5xx, nothing sent (connect)
        │       └── AmbiguousCallError   sent, no answer (read timeout, closed): may have delivered
        └── PermanentError          trying again cannot help
            ├── UserLimitExceededError   LimitExceededException: 5 per user per hour
            └── RequestRejectedError     every other documented Cognito error

Which Cognito error code lands in which class is the table in :mod:`worker.cognito`.
Whom an answer is about (the user, or the pool, the client, the account) is the second
table, :data:`ANSWER_SCOPES` (kept in :mod:`worker.answers`, re-exported here): it decides
when a campaign pauses itself.
"""

from __future__ import annotations

import redis

from worker.answers import (
    ANSWER_SCOPES,
    DELIVERY_RUN_USERS,
    TRIGGER_RUN_USERS,
    AnswerScope,
    Concern,
    answer_scope,
)

__all__ = [
    "ANSWER_SCOPES",
    "DELIVERY_RUN_USERS",
    "TRIGGER_RUN_USERS",
    "AmbiguousCallError",
    "AnswerScope",
    "Concern",
    "BrokerUnavailable",
    "CampaignError",
    "CampaignLostError",
    "CampaignNotFoundError",
    "CampaignStateError",
    "CognitoError",
    "ConfigurationError",
    "CourierError",
    "EvictingRedisError",
    "InvalidRequestError",
    "JobFailedError",
    "JobNotFoundError",
    "NotAuthorizedError",
    "NothingToSendError",
    "PermanentError",
    "PermitTimeoutError",
    "RedisFailoverError",
    "RedisFullError",
    "RedisOutageError",
    "RequestRejectedError",
    "RowsFailedError",
    "SealError",
    "StalePermitError",
    "ServiceFaultError",
    "ThrottledError",
    "TokenKeysUnavailableError",
    "TransientError",
    "UserCapReachedError",
    "UserLimitExceededError",
    "WaitTimeoutError",
    "answer_scope",
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


class RedisOutageError(CourierError, redis.ConnectionError):
    """Raised when Redis answers but cannot serve the command now; handled as an outage.

    A :class:`redis.ConnectionError` on purpose: kombu, Celery's consumer, the heartbeat and
    :func:`worker.liveness.heartbeat.patiently` already treat those as "Redis went away",
    so a failover or a full Redis is a pause, never a crash (:mod:`worker.broker.clients`
    raises these in place of the server's error replies).
    """


class RedisFailoverError(RedisOutageError):
    """Raised when the server spoken to is no longer the primary: ``READONLY`` (it became a
    replica), ``UNBLOCKED`` (a blocked BRPOP ended by that change), ``MASTERDOWN`` (a replica
    that lost its primary). The connection is dropped, so the next one finds the new
    primary (through Sentinel, or the endpoint's DNS name resolved again)."""


class RedisFullError(RedisOutageError):
    """Raised when Redis refuses a write because it reached ``maxmemory`` with the
    ``noeviction`` policy (``OOM command not allowed``); reads still work."""


class InvalidRequestError(CourierError):
    """Raised when a producer's input breaks a Cognito model constraint; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotAuthorizedError(InvalidRequestError):
    """Raised when an AccessToken fails verification (:mod:`worker.identity.tokens`).

    ``code`` is Cognito's own name for the refusal (``NotAuthorizedException``): the HTTP
    front answers 400 with it, the CLI exits 2, and a worker records it as the job's error.
    """

    code = "NotAuthorizedException"


class TokenKeysUnavailableError(CourierError):
    """Raised when a user pool's JWKS cannot be fetched, so a token cannot be verified yet.

    Retryable: nothing was enqueued; the same request may succeed once the keys answer.
    ``code`` is the project's name for it in a job's error and in HTTP 503 bodies.
    """

    code = "CourierTokenKeysUnavailable"


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


class CampaignStateError(CampaignError):
    """Raised when pause, resume or cancel means nothing in the campaign's state (pause a
    finished one, resume one that is not paused, cancel one that ended)."""


class CampaignLostError(CampaignNotFoundError):
    """Raised when a campaign's keys are gone or partial (a Redis that lost its data).

    ``document`` is the campaign status document with ``state`` ``lost`` and what is
    still known (``lost_reason`` says what is missing); the CLI prints it and exits 1.
    """

    def __init__(self, message: str, document: dict[str, object]) -> None:
        super().__init__(message)
        self.document = document


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


class RowsFailedError(CourierError):
    """Raised by a campaign chunk task after it recorded its rows, when some ended ``failed``,
    so Celery and Flower show that task as FAILURE (Flower's failure filter finds it).

    The message is the task's row summary. Only the task fails: the campaign lives in
    Redis and goes on. In the task's ``throws``: one log line, no traceback, no retry.
    """

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


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
    """Raised for InternalErrorException, bare 5xx answers, and calls that never left
    (connect timeout, refused connection): trying again sends nothing twice."""


class AmbiguousCallError(ServiceFaultError):
    """Raised when the request left but no answer came (read timeout, connection closed
    after sending): Cognito may have delivered a code. :mod:`worker.delivery` allows at
    most COURIER_AMBIGUOUS_RETRIES more calls after one."""


class PermanentError(CognitoError):
    """Raised for a failure that trying again cannot clear."""


class UserLimitExceededError(PermanentError):
    """Raised when Cognito answers LimitExceededException: the per-user hourly cap is spent."""


class RequestRejectedError(PermanentError):
    """Raised for every other documented Cognito error: bad client, unknown user, and so on."""
