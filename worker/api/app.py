"""The HTTP front's FastAPI app: routes, bearer-token check, request log and metrics."""

from __future__ import annotations

import hmac
import importlib.metadata
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from worker.api.decode import parse_query, read_json_object
from worker.api.errors import ApiError, error_response, install_error_handlers, invalid
from worker.api.openapi import openapi_document
from worker.api.params import (
    ID_PATTERN,
    action_label,
    campaign_arguments,
    check_parameters,
    choose_action,
    idempotency_key,
    submit,
)
from worker.errors import ConfigurationError
from worker.observe.cluster_metrics import CourierCollector
from worker.observe.redact import short_path
from worker.runtime import get_runtime
from worker.sealing import Sealer
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


def create_app(settings: Settings, *, token_operations: bool = True) -> FastAPI:
    """The HTTP front for ``settings``; jobs go through this process's runtime.

    ``token_operations`` false: the front serves no request that needs COURIER_SEAL_KEY
    (GetUserAttributeVerificationCode, a SecretHash); they answer 400 UnsupportedOperation
    and ``/healthz`` lists the key as missing.

    Raises:
        ConfigurationError: COURIER_API_TOKENS is empty (``courier api --dev`` makes one);
            COURIER_SEAL_KEY is malformed, or unset while ``token_operations`` is true.
    """
    if not settings.api_tokens:
        raise ConfigurationError(
            "COURIER_API_TOKENS is empty: the HTTP front needs at least one bearer token "
            "(or run `courier api --dev` for a local run with a generated token)"
        )
    if settings.seal_key is not None or token_operations:
        try:
            Sealer.from_settings(settings)  # unset or malformed: refuse now, not per request
        except ConfigurationError as exc:
            hint = (
                ""
                if settings.seal_key
                else " (or serve no token operations: --without-token-operations)"
            )
            raise ConfigurationError(f"{exc}{hint}") from None
    app = FastAPI(title="cognito-courier", docs_url=None, redoc_url=None, openapi_url=None)
    authorized = [Depends(bearer_check(settings))]
    body_timeout = settings.api_body_timeout_seconds
    install_error_handlers(app)
    registry = install_request_log(app)

    def check_token_operations(action: Any, params: Mapping[str, Any]) -> None:
        if token_operations:
            return
        if action.needs_seal or "SecretHash" in params:
            raise ApiError(
                400,
                "UnsupportedOperation",
                "this front was started without COURIER_SEAL_KEY and serves no request "
                "carrying an AccessToken or a SecretHash",
            )

    @app.api_route("/", methods=["GET", "POST"], dependencies=authorized)
    async def action_root(request: Request) -> JSONResponse:
        query = parse_query(request.scope["query_string"])
        if request.method == "GET":
            params: dict[str, Any] = dict(query.params)
            if "ClientMetadata" in params:
                raise invalid("ClientMetadata", "send it as a JSON object in the body of POST /")
            action_name = params.pop("Action", None)
        else:
            extra = sorted(set(query.params) - {"Action"})
            if extra:
                raise invalid(extra[0], "POST takes its parameters in the JSON body")
            params = await read_json_object(request, timeout_seconds=body_timeout)
            action_name = choose_action(query.params, params)
            params.pop("Action", None)
        request.state.action = action_label(action_name)
        action = check_parameters(action_name, params)
        check_token_operations(action, params)
        key = idempotency_key(request.headers)
        return await submit(action, params, key=key, plus_in=query.plus_in)

    @app.get("/jobs/{job_id}", dependencies=authorized)
    async def get_job(request: Request, job_id: str) -> JSONResponse:
        from tasks import job_status  # noqa: PLC0415

        request.state.action = "GetJob"
        if not ID_PATTERN.fullmatch(job_id):
            raise invalid("JobId", "not a job id")
        return JSONResponse(await run_in_threadpool(job_status, job_id))

    install_campaigns(app, authorized, body_timeout_seconds=body_timeout)
    install_operations(app, registry, token_operations=token_operations)
    return app


def install_campaigns(app: FastAPI, authorized: list[Any], *, body_timeout_seconds: float) -> None:
    """POST /campaigns and GET /campaigns/{id}."""

    @app.post("/campaigns", dependencies=authorized)
    async def start_campaign(request: Request) -> JSONResponse:
        from tasks.campaigns import start_campaign  # noqa: PLC0415

        request.state.action = "StartCampaign"
        if request.scope["query_string"]:
            raise invalid("(query string)", "POST /campaigns takes its fields in the JSON body")
        body = await read_json_object(request, timeout_seconds=body_timeout_seconds)
        arguments = campaign_arguments(body)
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


def install_operations(
    app: FastAPI, registry: CollectorRegistry, *, token_operations: bool
) -> None:
    """The public routes: /healthz, /metrics, /openapi.json, /docs and /redoc."""
    contract = openapi_document(version=_version())

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        request.state.action = "Healthz"
        missing = [] if token_operations else ["COURIER_SEAL_KEY"]
        try:
            await run_in_threadpool(get_runtime().redis.ping)
        except RedisError as exc:
            log.warning("healthz: Redis does not answer: %s", type(exc).__name__)
            document: dict[str, object] = {"status": "unavailable", "redis": "unreachable"}
            status = 503
        else:
            document, status = {"status": "ok", "redis": "ok"}, 200
        document |= {"token_operations": token_operations, "missing": missing}
        return JSONResponse(document, status_code=status)

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        request.state.action = "Metrics"
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    async def openapi(request: Request) -> JSONResponse:
        request.state.action = "OpenApi"
        return JSONResponse(contract)

    @app.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        request.state.action = "Docs"
        return get_swagger_ui_html(openapi_url="/openapi.json", title="cognito-courier")

    @app.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        request.state.action = "Docs"
        return get_redoc_html(openapi_url="/openapi.json", title="cognito-courier")


def _version() -> str:
    try:
        return importlib.metadata.version("cognito-courier")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "0+unknown"


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
        except ClientDisconnect:  # the client left mid-body: its doing, not a fault here
            log.info("%s %s: the client disconnected mid-request", request.method, request.url.path)
            response = error_response(499, "ClientClosedRequest", "the client disconnected")
        except Exception as exc:  # its message may hold a request's values: not logged
            log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
            response = error_response(500, "InternalFailure", "the request could not be handled")
        elapsed = time.perf_counter() - started
        action = str(getattr(request.state, "action", "Invalid"))  # refused before routing
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
