"""/docs and /redoc from the Swagger UI and ReDoc files installed with fastapi-offline: they work with no network."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
PREFIX = "/static-docs"
# Both pages run inline scripts and styles of their own; what matters is that nothing leaves this origin
# (ReDoc's footer links a logo on its CDN: the browser refuses it instead of calling out).
CSP = "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; base-uri 'none'; object-src 'none'"


def add_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI) and /redoc from local files; the app must be built with docs_url=redoc_url=None."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")
    oauth_redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def page(html: HTMLResponse) -> HTMLResponse:
        html.headers["Content-Security-Policy"] = CSP
        return html

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return page(get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} – API",
            oauth2_redirect_url=f"{root}{oauth_redirect}",
            swagger_js_url=f"{root}{PREFIX}/swagger-ui-bundle.js", swagger_css_url=f"{root}{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{root}{PREFIX}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge from the online validator
        ))

    @app.get(oauth_redirect, include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return page(get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} – API reference",
            redoc_js_url=f"{root}{PREFIX}/redoc.standalone.js", redoc_favicon_url=f"{root}{PREFIX}/favicon.png",
            with_google_fonts=False,
        ))
