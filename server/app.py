"""The FastAPI app factory: models, Chroma and BM25 are loaded once in the lifespan; errors are JSON."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.embed import Embedder
from rag.errors import PolicyQAError
from rag.settings import Settings, load_settings
from server.deps import BodyLimit, RateLimited, RateLimiter
from server.docs import add_docs
from server.openai_compat import router as openai_router
from server.routes import router
from server.service import Service

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None, embedder: Embedder | None = None) -> FastAPI:
    """Build the app; `embedder` lets tests share one loaded model between apps."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the model is loaded (built on a first run) in the start thread, so /readyz and the page answer meanwhile
        service = Service(settings, embedder)
        app.state.service = service
        if not settings.api_keys:
            log.warning("no API keys are set (POLICYQA_API_KEYS): serve on 127.0.0.1 only")
        thread = threading.Thread(target=service.start, name="policyqa-start", daemon=True)
        thread.start()
        yield

    app = FastAPI(
        title="policyqa", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,  # add_docs: served offline
        description="Answers about the 2022 China AI industry report and Chinese AI/data laws, with verified citations.",
    )
    add_docs(app)
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.rate_limit_per_minute)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, upload_bytes=int(settings.max_upload_mb * 1e6) + 4096
    )

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        service = getattr(request.app.state, "service", None)
        if service is not None:
            route = request.scope.get("route")
            service.metrics.request(getattr(route, "path", "unmatched"), response.status_code, time.perf_counter() - started)
        return response

    @app.exception_handler(PolicyQAError)
    async def domain_error(request: Request, exc: PolicyQAError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        _count_error(request, exc.code)
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        _count_error(request, "invalid_request")
        return JSONResponse(
            {"error": "invalid_request", "message": f"{where}: {first.get('msg', 'invalid request')}".strip(": ")},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        _count_error(request, "internal_error")
        return JSONResponse({"error": "internal_error", "message": "internal error; see the server log"}, status_code=500)

    app.include_router(router)
    app.include_router(openai_router)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return app


def _count_error(request: Request, code: str) -> None:
    service = getattr(request.app.state, "service", None)
    if service is not None:
        service.metrics.error(code)
