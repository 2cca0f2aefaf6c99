"""The published contract: /openapi.json matches the routes served, and is valid OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import SecretStr

from tests.support.front import LiveFront
from worker.api import create_app
from worker.settings import Settings

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _served(settings: Settings) -> set[tuple[str, str]]:
    app = create_app(settings.model_copy(update={"api_tokens": [SecretStr("t")]}))
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    }


def test_every_route_is_documented_and_every_operation_served(
    live_front: LiveFront, settings: Settings
) -> None:
    document = httpx.get(f"{live_front.url}/openapi.json").json()  # public: no token
    assert _served(settings) == _documented(document)


def test_the_document_is_valid_openapi_31(live_front: LiveFront) -> None:
    from jsonschema_rs import Draft202012Validator  # schemathesis' own validator

    document = httpx.get(f"{live_front.url}/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    for schema in document["components"]["schemas"].values():
        Draft202012Validator(schema)  # a malformed schema raises
    # the seed's two GET operations, with Cognito's required members required
    query, idempotency = document["paths"]["/"]["get"]["parameters"]
    assert (idempotency["in"], idempotency["name"]) == ("header", "Idempotency-Key")
    assert document["paths"]["/"]["post"]["parameters"] == [idempotency]
    assert "422" in document["paths"]["/"]["post"]["responses"]
    assert (query["in"], query["style"], query["explode"]) == ("query", "form", True)
    shapes = {shape["title"]: shape for shape in query["schema"]["oneOf"]}
    assert set(shapes["ResendConfirmationCode"]["required"]) == {"Action", "ClientId", "Username"}
    assert set(shapes["ResendConfirmationCode"]["properties"]) == {
        "Action",
        "ClientId",
        "Username",
        "SecretHash",
    }
    assert set(shapes["GetUserAttributeVerificationCode"]["required"]) == {
        "Action",
        "AccessToken",
        "AttributeName",
    }
    body = document["components"]["schemas"]["ActionRequest"]["oneOf"]
    assert [set(shape["required"]) for shape in body] == [
        set(shape["required"]) for shape in shapes.values()
    ]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path in ("/healthz", "/metrics", "/openapi.json", "/docs", "/redoc"):
        assert document["paths"][path]["get"]["security"] == []


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_are_public_and_point_at_the_document(live_front: LiveFront, path: str) -> None:
    page = httpx.get(f"{live_front.url}{path}")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
