"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, from assets shipped in a package.

The scripts, style sheet and icon come from the ``fastapi-offline`` distribution
(``fastapi_offline/static``: Swagger UI's ``swagger-ui-bundle.js`` and ``swagger-ui.css``,
ReDoc's ``redoc.standalone.js``), served at ``/docs/static/{name}``: the pages load nothing
from the internet (no CDN, no web fonts), so they render offline. Public, like
``/openapi.json``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from worker.api.errors import ApiError

__all__ = ["ASSETS", "CSP", "install_docs"]

ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
_BASE: Final = "/docs/static"
# ReDoc's footer shows a logo from its CDN: the served bundle points it at the local icon.
_REWRITES: Final = {
    "redoc.standalone.js": (
        b"https://cdn.redoc.ly/redoc/logo-mini.svg",
        b"/docs/static/favicon.png",
    )
}
# And whatever a bundle asks for, the browser may fetch from this front only. FastAPI's
# pages start the bundles with an inline script, hence 'unsafe-inline'.
CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def install_docs(app: FastAPI, *, title: str, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs``, ``/redoc`` and ``/docs/static/{name}`` to ``app``."""

    @app.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        request.state.action = "Docs"
        return _offline(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=f"{_BASE}/swagger-ui-bundle.js",
                swagger_css_url=f"{_BASE}/swagger-ui.css",
                swagger_favicon_url=f"{_BASE}/favicon.png",
            )
        )

    @app.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        request.state.action = "Docs"
        return _offline(
            get_redoc_html(
                openapi_url=openapi_url,
                title=title,
                redoc_js_url=f"{_BASE}/redoc.standalone.js",
                redoc_favicon_url=f"{_BASE}/favicon.png",
                with_google_fonts=False,
            )
        )

    @app.get(_BASE + "/{name}")
    async def asset(request: Request, name: str) -> Response:
        request.state.action = "Docs"
        media_type = ASSETS.get(name)
        if media_type is None:
            raise ApiError(404, "NotFound", "no such file")
        return Response(
            _asset(name), media_type=media_type, headers={"Cache-Control": "max-age=3600"}
        )


@cache
def _asset(name: str) -> bytes:
    content = (files("fastapi_offline") / "static" / name).read_bytes()
    if name in _REWRITES:
        content = content.replace(*_REWRITES[name])
    return content


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CSP
    return page
