"""The HTTP front (``courier api``): the seed's ``/?Action=...`` surface, served asynchronously.

Routes (all but ``/metrics`` and ``/healthz`` need ``Authorization: Bearer <token>``, checked
against COURIER_API_TOKENS in constant time)::

    GET  /?Action=ResendConfirmationCode&ClientId=..&Username=..[&SecretHash=..]  202 job
    GET  /?Action=GetUserAttributeVerificationCode&AccessToken=..&AttributeName=..  202 job
    POST /                the same parameters, Action included, as a JSON object  202 job
    GET  /jobs/{id}                                                               200 job
    POST /campaigns       a campaign as a JSON object            202 (200 for a dry run)
    GET  /campaigns/{id}                                                          200 campaign
    GET  /metrics         Prometheus text exposition
    GET  /healthz         pings Redis and writes one key (a replica or a full Redis is not ready)

A 202 carries the status document (DESIGN.md) and a ``Location`` to poll. Every failure is
an AWS-style body ``{"__type": ..., "message": ...}`` (the table is in docs/api.md). Input
is checked before anything is enqueued. No AccessToken reaches a log line or an error
body: requests are logged by method and path only (``courier api`` turns uvicorn's access
log, which prints query strings, off), and messages never echo a parameter's value.
"""

from worker.api.app import create_app
from worker.api.errors import ApiError

__all__ = ["ApiError", "create_app"]
