"""Who is calling, and may they: bearer tokens for the API, a cookie for the dashboard.

API clients send ``Authorization: Bearer recops_...``. The dashboard's sign-in form puts
the same token in an HttpOnly, SameSite=Strict cookie; every unsafe request that relies
on that cookie must also carry a CSRF token (form field ``csrf`` or header
``X-CSRF-Token``) derived from the session token with HMAC, which a page on another site
cannot read. Bearer requests need no CSRF token: a browser never attaches them by itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, status

from recops.server.tokens import ROLES, Principal, authenticate

COOKIE = "recops_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """A dashboard page was asked for without a valid session: send the browser to sign in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session token."""
    return hmac.new(session_token.encode("utf-8"), b"recops-csrf", hashlib.sha256).hexdigest()


def _credentials(request: Request) -> tuple[str | None, bool]:
    """The presented token and whether it came from the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), False
    cookie = request.cookies.get(COOKIE)
    return (cookie, True) if cookie else (None, False)


def identify(request: Request) -> Principal | None:
    """The caller's principal (cached on the request), or None without a valid token."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    token, from_cookie = _credentials(request)
    principal = authenticate(request.app.state.workspace.store, token) if token else None
    request.state.principal = principal
    request.state.session_token = token if from_cookie and principal else None
    return principal


async def _check_csrf(request: Request) -> None:
    session_token: str | None = getattr(request.state, "session_token", None)
    if session_token is None or request.method in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if presented is None or not hmac.compare_digest(presented, csrf_token(session_token)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token; reload the page")


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """An API dependency: 401 without a valid token, 403 when its role is below ``role``."""
    if role not in ROLES:
        raise ValueError(role)

    async def dependency(request: Request) -> Principal:
        principal = identify(request)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid token; send `Authorization: Bearer <token>` (`recops token create`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.can(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"token {principal.name!r} has role {principal.role}; needs {role}"
            )
        await _check_csrf(request)
        return principal

    return dependency


def require_page(role: str = "viewer") -> Callable[[Request], Awaitable[Principal]]:
    """A dashboard dependency: like :func:`require`, but no session sends the browser to sign in."""
    api = require(role)

    async def dependency(request: Request) -> Principal:
        if identify(request) is None:
            raise SignInRequired(
                str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
            )
        return await api(request)

    return dependency
