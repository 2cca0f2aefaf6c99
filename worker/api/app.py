"""The HTTP front's FastAPI app: routes, bearer-token check, request log and metrics."""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
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

from worker.api.auth import (
    bearer_check,
    require,
    require_client,
    require_pool,
    require_token_client,
    visible,
)
from worker.api.decode import parse_query, read_json_object
from worker.api.docs import install_docs
from worker.api.errors import ApiError, error_response, install_error_handlers, invalid
from worker.api.openapi import openapi_document
from worker.api.openapi_ui import add_ui_operations
from worker.api.params import (
    ID_PATTERN,
    action_label,
    campaign_arguments,
    check_parameters,
    choose_action,
    idempotency_key,
    submit,
)
from worker.api.ui import install_ui
from worker.broker.clients import outage_cause, probe_write
from worker.broker.patience import REDIS_OUTAGE
from worker.errors import CampaignLostError, ConfigurationError
from worker.observe.cluster_metrics import CourierCollector
from worker.observe.redact import short_path
from worker.runtime import get_runtime
from worker.sealing import Sealer
from worker.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("worker.api")  # one logger for the whole front


def create_app(settings: Settings, *, token_operations: bool = True) -> FastAPI:
    """The HTTP front for ``settings``; jobs go through this process's runtime.

    ``token_operations`` false: the front serves no request that needs COURIER_SEAL_KEY
    (GetUserAttributeVerificationCode, a SecretHash); they answer 400 UnsupportedOperation
    and ``/healthz`` lists the key as missing.

    Raises:
        ConfigurationError: COURIER_API_TOKENS and COURIER_API_TOKENS_FILE name no token
            (``courier api --dev`` makes one), or two principals share a token;
            COURIER_SEAL_KEY is malformed, or unset while ``token_operations`` is true.
    """
    check_bearer = bearer_check(settings)  # refuses a front without a token at once
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
    app = FastAPI(
        title="cognito-courier",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # No redirects at all: Starlette's slash redirect answered 307 with a Location built
        # from the request's Host header (an open redirect), before the token check.
        redirect_slashes=False,
    )
    authorized = [Depends(check_bearer)]
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
        principal = require(request, action.scope)
        require_client(principal, params.get("ClientId"))
        check_token_operations(action, params)
        await require_token_client(principal, get_runtime().tokens, params.get("AccessToken"))
        key = idempotency_key(request.headers)
        return await submit(action, params, key=key, plus_in=query.plus_in, principal=principal)

    @app.get("/jobs/{job_id}", dependencies=authorized)
    async def get_job(request: Request, job_id: str) -> JSONResponse:
        from tasks import job_status  # noqa: PLC0415

        request.state.action = "GetJob"
        if not ID_PATTERN.fullmatch(job_id):
            raise invalid("JobId", "not a job id")
        document = await run_in_threadpool(job_status, job_id)
        visible(request, document.get("principal"), what="job", ident=job_id)
        return JSONResponse(document)

    install_campaigns(app, authorized, body_timeout_seconds=body_timeout)
    install_ui(app, settings, check_bearer, body_timeout_seconds=body_timeout)
    install_operations(app, registry, token_operations=token_operations)
    return app


def install_campaigns(app: FastAPI, authorized: list[Any], *, body_timeout_seconds: float) -> None:
    """POST /campaigns and GET /campaigns/{id} (a lost campaign: 200, ``state`` ``lost``,
    its ``lost_reason``; shown only to a principal that may read it, as any campaign)."""

    @app.post("/campaigns", dependencies=authorized)
    async def start_campaign(request: Request) -> JSONResponse:
        from tasks.campaigns import start_campaign  # noqa: PLC0415

        request.state.action = "StartCampaign"
        if request.scope["query_string"]:
            raise invalid("(query string)", "POST /campaigns takes its fields in the JSON body")
        principal = require(request, "campaigns")
        body = await read_json_object(request, timeout_seconds=body_timeout_seconds)
        arguments = campaign_arguments(body)
        require_client(principal, arguments["client_id"])
        require_pool(
            principal, get_runtime().clients, arguments["client_id"], arguments.get("user_pool_id")
        )
        arguments["principal"] = principal.name
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
        try:
            document = await run_in_threadpool(campaign_status, campaign_id)
        except CampaignLostError as lost:  # Redis lost its keys: say so (200), never 500
            document = lost.document
        visible(request, document.get("principal"), what="campaign", ident=campaign_id)
        return JSONResponse(document)


def install_operations(
    app: FastAPI, registry: CollectorRegistry, *, token_operations: bool
) -> None:
    """The public routes: /healthz, /metrics, /openapi.json, /docs and /redoc."""
    contract = add_ui_operations(openapi_document(version=_version()))

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        request.state.action = "Healthz"
        missing = [] if token_operations else ["COURIER_SEAL_KEY"]
        client = get_runtime().redis
        try:
            await run_in_threadpool(client.ping)
            # PING answers on a replica and on a full Redis: only a write says "ok".
            await run_in_threadpool(probe_write, client)
        except RedisError as exc:
            cause = outage_cause(exc)
            redis_state = "unreachable" if cause is None else "not accepting writes"
            if REDIS_OUTAGE.begin():  # one line per process per episode, not per probe
                log.warning("healthz: Redis is %s: %s", redis_state, type(exc).__name__)
            document: dict[str, object] = {"status": "unavailable", "redis": redis_state}
            if cause is not None:
                document["reason"] = str(exc)
            status = 503
        else:
            if REDIS_OUTAGE.end():
                log.warning("healthz: Redis answers again and accepts writes again")
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

    install_docs(app, title="cognito-courier")


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


_PROBE_ACTIONS = frozenset({"Metrics", "Healthz"})


def access_log(request: Request, response: Response, action: str, seconds: float) -> None:
    """One line per request: method, path (cut short: it may hold a pasted token), status,
    time, action and the job it made or read (``job_id``, also a JSON key). Answered
    ``/metrics`` scrapes and ``/healthz`` probes are DEBUG lines, the rest INFO."""
    location = response.headers.get("location", "")
    job_id = request.path_params.get("job_id") or location.removeprefix("/jobs/")
    if not ID_PATTERN.fullmatch(job_id):
        job_id = None  # not a job id: maybe a pasted token, never logged
    # Prometheus scrapes and liveness probes every few seconds: DEBUG, unless refused.
    quiet = action in _PROBE_ACTIONS and response.status_code < 400
    log.log(
        logging.DEBUG if quiet else logging.INFO,
        "%s %s %d %.1fms %s",
        request.method,
        # A refused request's path may hold a pasted token: keep only its start.
        short_path(request.url.path, keep=48 if response.status_code < 400 else 16),
        response.status_code,
        seconds * 1e3,
        action,
        extra={"action": action, "status": response.status_code, "job_id": job_id},
    )
