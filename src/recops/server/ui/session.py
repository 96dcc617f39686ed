"""Signing in and out of the dashboard with an API token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recops.server.auth import COOKIE, require_page
from recops.server.tokens import Principal, authenticate
from recops.server.ui.render import page

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only same-site paths: never redirect a signed-in browser to another host."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "login.html", {"next": _safe_next(next), "failed": False})


@router.post("/login")
def login(request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
    principal = authenticate(request.app.state.workspace.store, token.strip())
    if principal is None:
        return page(request, "login.html", {"next": _safe_next(next), "failed": True}, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
    )
    return response


@router.post("/logout")
def logout(_principal: Annotated[Principal, Depends(require_page("viewer"))]) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
