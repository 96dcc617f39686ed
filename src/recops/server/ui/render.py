"""Rendering dashboard pages: one Jinja2 environment, the navigation, error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from recops import __version__
from recops.server.auth import CSRF_FIELD, csrf_token, identify

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# (label, path): the navigation bar, in signal-path order.
NAV: list[tuple[str, str]] = [
    ("Overview", "/"),
    ("Arrival", "/family/arrival"),
    ("Quality", "/family/quality"),
    ("Features", "/family/features"),
    ("Model", "/family/model"),
    ("Serving", "/family/serving"),
    ("Models", "/models"),
    ("Alerts", "/alerts"),
    ("Incidents", "/incidents"),
    ("Trace", "/trace"),
    ("SQL", "/sql"),
]


def page(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """Render ``template`` with the navigation, the signed-in principal and the CSRF token."""
    principal = identify(request)
    session_token = getattr(request.state, "session_token", None)
    base = {
        "request": request,
        "nav": NAV,
        "principal": principal,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(session_token) if session_token else "",
        "version": __version__,
        "workspace": str(request.app.state.workspace.config.root),
    }
    return templates.TemplateResponse(request, template, base | (context or {}), status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", {"status": status, "message": message}, status=status)
