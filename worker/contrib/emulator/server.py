"""The HTTP face: AWS JSON 1.1 on ``POST /`` and the inspection API under ``/_emulator/``.

A call goes: target -> body -> signature (IAM operations) -> quota -> scripted or random
fault -> latency -> model validation -> handler. Throttled calls and injected faults never
reach the handler, so they never count against the per-user hourly cap.

Unsigned calls to IAM operations answer what real AWS answers for a request without an
``Authorization`` header: HTTP 400 ``MissingAuthenticationTokenException`` "Missing
Authentication Token". Signatures are never verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from worker.contrib.emulator.core import OPERATIONS, Emulator
from worker.contrib.emulator.errors import ServiceError
from worker.contrib.emulator.faults import Fault
from worker.contrib.emulator.state import Pool
from worker.contrib.emulator.tokens import TokenError

__all__ = ["EMULATOR_KEY", "build_app"]

EMULATOR_KEY = web.AppKey("emulator", Emulator)
_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
_JSON_11 = "application/x-amz-json-1.1"
_BARE_5XX = "<html><body><h1>{status} Server Error</h1><p>An error occurred.</p></body></html>"
# SigV4: "Credential=<key id>/<yyyymmdd>/<region>/cognito-idp/aws4_request"
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/cognito-idp/aws4_request")
_HOST = re.compile(r"cognito-idp(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?::\d+)?")


def caller_region(headers: Any) -> str | None:
    """The Region a request was meant for: its SigV4 credential scope, else its Host.

    None for an unsigned request to a Host that names no Region (the emulator's own
    ``host:port``); the caller then uses the emulator's ``--region``.
    """
    scope = _SCOPE.search(headers.get("Authorization", ""))
    if scope is not None:
        return scope.group(1)
    host = _HOST.fullmatch(headers.get("Host", ""))
    return host.group(1) if host is not None else None


def _error(code: str, message: str, status: int) -> web.Response:
    body = json.dumps({"__type": code, "message": message}).encode()
    return web.Response(
        body=body,
        status=status,
        content_type=_JSON_11,
        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _service_error(emu: Emulator, operation: str, exc: ServiceError) -> web.Response:
    emu.recorder.error(operation, exc.code)
    return _error(exc.code, exc.message, exc.status)


def _script_matcher(emu: Emulator, operation: str, params: dict[str, Any]) -> Callable[[str], bool]:
    """Whether a script's username designates the call's user: the same name as typed, or
    a name the call's pool resolves to the same user (any case in a case-insensitive pool;
    e-mail, phone or ``sub`` in a pool with UsernameAttributes). For
    GetUserAttributeVerificationCode, the token's username."""
    typed = params.get("Username")
    pool: Pool | None = None
    username: str | None = None
    if isinstance(typed, str):
        client = emu.directory.clients.get(str(params.get("ClientId", "")))
        pool_id = client.pool_id if client is not None else str(params.get("UserPoolId", ""))
        pool = emu.directory.pools.get(pool_id)
        user = pool.get_user(typed) if pool is not None else None
        username = user.username if user is not None else None
    token = params.get("AccessToken")
    if operation == "GetUserAttributeVerificationCode" and isinstance(token, str):
        with contextlib.suppress(TokenError):  # an invalid token matches no user's script
            claims = emu.tokens.verify_access(token)
            typed, username = claims.username, claims.username
            pool = emu.directory.pools.get(claims.pool_id)

    def is_user(name: str) -> bool:
        if name == typed:
            return True
        if pool is None or username is None:
            return False
        other = pool.get_user(name)
        return other is not None and other.username == username

    return is_user


async def _injected(
    request: web.Request, emu: Emulator, operation: str, fault: Fault
) -> web.StreamResponse | None:
    """The answer for an injected fault, or None when the call goes on (slow answers)."""
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_ms / 1000.0)
        return None
    if fault.kind == "drop":
        emu.recorder.error(operation, "drop")
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    if fault.kind == "bare":
        emu.recorder.error(operation, str(fault.status))
        return web.Response(
            text=_BARE_5XX.format(status=fault.status),
            status=fault.status,
            content_type="text/html",
        )
    return _service_error(
        emu, operation, ServiceError(fault.code or "InternalErrorException", fault.message)
    )


async def _aws(request: web.Request) -> web.StreamResponse:
    emu = request.app[EMULATOR_KEY]
    target = request.headers.get("X-Amz-Target", "")
    operation = (
        OPERATIONS.get(target.removeprefix(_TARGET_PREFIX))
        if target.startswith(_TARGET_PREFIX)
        else None
    )
    if operation is None:
        emu.recorder.error(target or "(none)", "UnknownOperationException")
        return _error("UnknownOperationException", f"Unknown operation {target or '(none)'}", 400)
    name = operation.name
    emu.recorder.call(name)
    body = await request.read()
    try:
        params = json.loads(body) if body.strip() else {}
    except ValueError:
        params = None
    if not isinstance(params, dict):
        return _service_error(
            emu,
            name,
            ServiceError(
                "SerializationException", "Start of structure or map found where not expected."
            ),
        )
    if operation.needs_iam and "Authorization" not in request.headers:
        return _service_error(
            emu,
            name,
            ServiceError("MissingAuthenticationTokenException", "Missing Authentication Token"),
        )
    if operation.category is not None and not emu.buckets[operation.category].try_acquire():
        emu.recorder.throttled(name)
        return _service_error(
            emu, name, ServiceError("TooManyRequestsException", "Too many requests")
        )
    emu.recorder.accepted(name)
    injector = emu.injector
    fault = (
        injector.scripted(name, _script_matcher(emu, name, params))
        if injector.has_scripts
        else None
    )
    if fault is None:
        fault = injector.random_fault(name)
    delay = injector.latency_seconds(name)
    if delay > 0:
        await asyncio.sleep(delay)
    if fault is not None:
        answer = await _injected(request, emu, name, fault)
        if answer is not None:
            return answer
    try:
        operation.validate(params)
        emu.call_region = caller_region(request.headers) or emu.config.region
        result = operation.handler(emu, params)
    except ServiceError as exc:
        return _service_error(emu, name, exc)
    emu.recorder.succeeded(name)
    return web.Response(
        body=json.dumps(result).encode(),
        content_type=_JSON_11,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def _health(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    return web.json_response({"status": "ok", **emu.describe()})


async def _deliveries(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    query = request.query
    rows = [
        row
        for row in emu.recorder.deliveries
        if all(
            row.get(key) == query[key]
            for key in ("username", "pool_id", "medium", "operation")
            if key in query
        )
    ]
    return web.json_response({"deliveries": rows})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[EMULATOR_KEY].recorder.snapshot())


async def _reset(request: web.Request) -> web.Response:
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return _bad_request(str(exc))
    request.app[EMULATOR_KEY].reset(pools=bool(body.get("pools", False)))
    return web.json_response({"status": "reset"})


async def _config(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    if request.method == "POST":
        try:
            emu.configure(**await _json_body(request))
        except (ValueError, TypeError) as exc:
            return _bad_request(str(exc))
    return web.json_response({"config": emu.config.to_json()})


async def _script(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    try:
        body = await _json_body(request)
        operation = body["operation"]
        errors = body["errors"]
        username = body.get("username")
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        if not isinstance(errors, list):
            raise ValueError("errors must be a list of strings or {code, message} objects")
        if username is not None and not isinstance(username, str):
            raise ValueError("username must be a string or null")
        count = emu.injector.add_script(operation, errors, username)
    except (KeyError, ValueError) as exc:
        return _bad_request(f"bad script: {exc}")
    return web.json_response({"status": "scripted", "count": count})


async def _jwks(request: web.Request) -> web.Response:
    """``GET /<pool id>/.well-known/jwks.json``: the pool's public signing keys."""
    emu = request.app[EMULATOR_KEY]
    pool_id = request.match_info["pool_id"]
    if pool_id not in emu.directory.pools:
        return web.json_response({"message": f"User pool {pool_id} does not exist."}, status=404)
    return web.json_response(emu.tokens.jwks(pool_id))


async def _openid_configuration(request: web.Request) -> web.Response:
    """``GET /<pool id>/.well-known/openid-configuration``: issuer and ``jwks_uri``."""
    emu = request.app[EMULATOR_KEY]
    pool_id = request.match_info["pool_id"]
    if pool_id not in emu.directory.pools:
        return web.json_response({"message": f"User pool {pool_id} does not exist."}, status=404)
    base = f"{request.scheme}://{request.host}/{pool_id}"
    return web.json_response(
        {
            "issuer": emu.tokens.issuer(pool_id),
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["code", "token"],
        }
    )


def build_app(emu: Emulator) -> web.Application:
    """The aiohttp application serving ``emu``."""
    app = web.Application(client_max_size=1024 * 1024)
    app[EMULATOR_KEY] = emu
    app.router.add_post("/", _aws)
    app.router.add_get("/_emulator/health", _health)
    app.router.add_get("/_emulator/deliveries", _deliveries)
    app.router.add_get("/_emulator/stats", _stats)
    app.router.add_post("/_emulator/reset", _reset)
    app.router.add_get("/_emulator/config", _config)
    app.router.add_post("/_emulator/config", _config)
    app.router.add_post("/_emulator/script", _script)
    app.router.add_get("/{pool_id}/.well-known/jwks.json", _jwks)
    app.router.add_get("/{pool_id}/.well-known/openid-configuration", _openid_configuration)
    return app
