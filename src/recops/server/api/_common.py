"""What every API module shares: the workspace, role dependencies, strict JSON, times, audit.

Not a router (no ``router`` here, so app.py skips it). Endpoints are plain ``def``
functions: the library calls block, and FastAPI runs such endpoints in its thread pool,
so one slow diagnosis does not stall the alias lookups served next to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from recops.detect.events import jsonable
from recops.lake.windows import parse_local_time
from recops.registry.audit import append, registry_session
from recops.server.auth import require
from recops.server.tokens import Principal
from recops.workspace import Workspace


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


WS = Annotated[Workspace, Depends(_workspace)]
Viewer = Annotated[Principal, Depends(require("viewer"))]
Ingest = Annotated[Principal, Depends(require("ingest"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]

# Documented on every route that needs a token, so the OpenAPI lists the auth answers.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked token (`Authorization: Bearer recops_...`)."},
    403: {"description": "The token's role is below the one this route needs."},
}


def reply(data: Any, status_code: int = 200) -> JSONResponse:
    """Strict JSON: times as ISO 8601, NaN and infinities as null (JSON has neither)."""
    return JSONResponse(jsonable(data), status_code=status_code)


def local_time(ws: Workspace, text: str | None) -> datetime | None:
    """A time from a query or body: ISO 8601, a naive one in the workspace time zone (like the CLI)."""
    return parse_local_time(text, ws.config.zone) if text else None


def audit_write(
    ws: Workspace, principal: Principal, action: str, subject: str, payload: dict[str, Any]
) -> int:
    """Record a write whose library function keeps no audit entry of its own; returns its seq.

    Used for incidents, action items, playbook runs, post-mortems and monitor runs, which
    the library logs in their own tables but not in the hash-chained audit log.
    """
    with registry_session(ws.store) as session:
        entry = append(
            session, actor=principal.actor, action=action, subject=subject, payload=jsonable(payload)
        )
    return entry.seq
