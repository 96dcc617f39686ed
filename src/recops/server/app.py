"""The FastAPI application: every router under ``api/`` and ``ui/``, static files, errors.

Routers are found, not listed: each module of ``recops.server.api`` and
``recops.server.ui`` that defines ``router`` is included (API ones under ``/api``), so a
new page or endpoint is one new module.
"""

from __future__ import annotations

import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import quote

import plotly
from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from recops import __version__
from recops.errors import CheckFailed, Conflict, InvalidInput, NotFound, RecopsError
from recops.server.auth import SignInRequired, identify
from recops.workspace import Workspace

STATIC = Path(__file__).parent / "ui" / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data"


def _status(exc: RecopsError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | CheckFailed):
        return 409
    if isinstance(exc, InvalidInput):
        return 400
    return 500


def _routers(package: str) -> list[Any]:
    found = []
    for info in sorted(pkgutil.iter_modules(import_module(package).__path__), key=lambda i: i.name):
        module = import_module(f"{package}.{info.name}")
        if hasattr(module, "router"):
            found.append(module.router)
    return found


def create_app(workspace: Workspace, *, scheduler: Any | None = None) -> FastAPI:
    """The app over an open workspace; ``scheduler`` (started and stopped with the app) is optional.

    The scheduler is anything with ``start()``, ``stop()`` and ``status()``.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()

    app = FastAPI(
        title="recops",
        version=__version__,
        summary="The operational layer around production recommenders: REST API.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.state.scheduler = scheduler
    for router in _routers("recops.server.api"):
        app.include_router(router, prefix="/api")
    for router in _routers("recops.server.ui"):
        app.include_router(router)
    app.mount("/static/plotly", StaticFiles(directory=PLOTLY_JS), name="plotly")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @app.exception_handler(RecopsError)
    async def recops_error(request: Request, exc: RecopsError) -> Response:
        code = _status(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=code)
        from recops.server.ui.render import error_page

        return error_page(request, code, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.url.path == "/metrics":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        from recops.server.ui.render import error_page

        return error_page(request, exc.status_code, str(exc.detail))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", response_class=PlainTextResponse, tags=["monitoring"])
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text exposition: latest metric points, alerts, outbox, heartbeats.

        Needs a viewer token unless ``[server] metrics_public = true``.
        """
        if not workspace.config.server.metrics_public:
            principal = identify(request)
            if principal is None:
                raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        from recops.detect.prometheus import render_prometheus

        text = render_prometheus(workspace.store)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
