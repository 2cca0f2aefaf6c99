"""The HTTP front's FastAPI app: routes, bearer-token check, request log and metrics."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.concurrency import run_in_threadpool

from worker.api.errors import ApiError, error_response, install_error_handlers, invalid
from worker.api.params import (
    ID_PATTERN,
    action_label,
    campaign_arguments,
    check_parameters,
    json_object,
    query_parameters,
    submit,
)
from worker.errors import ConfigurationError
from worker.metrics import CourierCollector
from worker.redact import short_path
from worker.runtime import get_runtime
from worker.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("worker.api")  # one logger for the whole front


def bearer_check(settings: Settings) -> Callable[[Request], None]:
    tokens = [t.get_secret_value().encode("utf-8") for t in settings.api_tokens]
    challenge = {"WWW-Authenticate": 'Bearer realm="courier"'}

    def check(request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip().encode("utf-8")
        if scheme.lower() != "bearer" or not given:
            raise ApiError(
                401,
                "MissingAuthenticationToken",
                "send the header Authorization: Bearer <token>",
                headers=challenge,
            )
        matched = False
        for token in tokens:  # all compared: the time says nothing about which matched
            matched |= hmac.compare_digest(given, token)
        if not matched:
            raise ApiError(
                401,
                "UnrecognizedClientException",
                "the bearer token is not one this front accepts",
                headers=challenge,
            )

    return check


def create_app(settings: Settings) -> FastAPI:
    """The HTTP front for ``settings``; jobs go through this process's runtime.

    Raises:
        ConfigurationError: COURIER_API_TOKENS is empty (``courier api --dev`` makes one).
    """
    if not settings.api_tokens:
        raise ConfigurationError(
            "COURIER_API_TOKENS is empty: the HTTP front needs at least one bearer token "
            "(or run `courier api --dev` for a local run with a generated token)"
        )
    app = FastAPI(title="cognito-courier", docs_url=None, redoc_url=None, openapi_url=None)
    authorized = [Depends(bearer_check(settings))]
    install_error_handlers(app)
    registry = install_request_log(app)

    @app.get("/", dependencies=authorized)
    async def query_action(request: Request) -> JSONResponse:
        params = query_parameters(request)
        action_name = params.pop("Action", None)
        request.state.action = action_label(action_name)
        return await submit(check_parameters(action_name, params), params)

    @app.post("/", dependencies=authorized)
    async def json_action(request: Request) -> JSONResponse:
        extra = sorted(set(request.query_params) - {"Action"})
        if extra:
            raise invalid(extra[0], "POST takes its parameters in the JSON body")
        params = await json_object(request)
        action_name = params.pop("Action", None) or request.query_params.get("Action")
        request.state.action = action_label(action_name)
        return await submit(check_parameters(action_name, params), params)

    @app.get("/jobs/{job_id}", dependencies=authorized)
    async def get_job(request: Request, job_id: str) -> JSONResponse:
        from tasks import job_status  # noqa: PLC0415

        request.state.action = "GetJob"
        if not ID_PATTERN.fullmatch(job_id):
            raise invalid("JobId", "not a job id")
        return JSONResponse(await run_in_threadpool(job_status, job_id))

    @app.post("/campaigns", dependencies=authorized)
    async def start_campaign(request: Request) -> JSONResponse:
        from tasks.campaigns import start_campaign  # noqa: PLC0415

        request.state.action = "StartCampaign"
        arguments = campaign_arguments(await json_object(request))
        document = await run_in_threadpool(lambda: start_campaign(**arguments))
        if document.get("id") is None:  # a dry run: nothing stored, nothing to follow
            return JSONResponse(document)
        location = {"Location": f"/campaigns/{document['id']}"}
        return JSONResponse(document, status_code=202, headers=location)

    @app.get("/campaigns/{campaign_id}", dependencies=authorized)
    async def get_campaign(request: Request, campaign_id: str) -> JSONResponse:
        from tasks.campaigns import campaign_status  # noqa: PLC0415

        request.state.action = "GetCampaign"
        if not ID_PATTERN.fullmatch(campaign_id):
            raise invalid("CampaignId", "not a campaign id")
        return JSONResponse(await run_in_threadpool(campaign_status, campaign_id))

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        request.state.action = "Healthz"
        await run_in_threadpool(get_runtime().redis.ping)  # RedisError: 503
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        request.state.action = "Metrics"
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def install_request_log(app: FastAPI) -> CollectorRegistry:
    """One log line and one metric sample per request: method and path, never the query."""
    registry = CollectorRegistry()
    registry.register(CourierCollector(get_runtime))  # limiter state, read at scrape time
    requests = Counter(
        "courier_api_requests",
        "HTTP front requests by action and status code.",
        ("action", "status"),
        registry=registry,
    )
    latency = Histogram(
        "courier_api_request_duration_seconds",
        "HTTP front request handling time, seconds.",
        ("action",),
        registry=registry,
    )

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:  # its message may hold a request's values: not logged
            log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
            response = error_response(500, "InternalFailure", "the request could not be handled")
        elapsed = time.perf_counter() - started
        action = str(getattr(request.state, "action", "Unknown"))
        requests.labels(action, str(response.status_code)).inc()
        latency.labels(action).observe(elapsed)
        access_log(request, response, action, elapsed)
        return response

    return registry


def access_log(request: Request, response: Response, action: str, seconds: float) -> None:
    """One line per request: method, path (cut short: it may hold a pasted token), status,
    time, action and the job it made or read (``job_id``, also a JSON key)."""
    location = response.headers.get("location", "")
    job_id = request.path_params.get("job_id") or location.removeprefix("/jobs/")
    if not ID_PATTERN.fullmatch(job_id):
        job_id = None  # not a job id: maybe a pasted token, never logged
    log.info(
        "%s %s %d %.1fms %s",
        request.method,
        # A refused request's path may hold a pasted token: keep only its start.
        short_path(request.url.path, keep=48 if response.status_code < 400 else 16),
        response.status_code,
        seconds * 1e3,
        action,
        extra={"action": action, "status": response.status_code, "job_id": job_id},
    )
