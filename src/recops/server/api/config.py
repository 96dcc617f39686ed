"""``GET /api/config/validate``: check the workspace's recops.toml (``recops config validate``).

Admin only: settings say where the store is and how the server runs. The answer is the
verdict, the problem found and a summary; never the file itself, and the store URL only
with its password and query string removed, so no secret leaves through this route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from recops.config import load_config
from recops.errors import ConfigError
from recops.server.api._common import AUTH_RESPONSES, WS, Admin, reply

router = APIRouter(tags=["config"], responses=AUTH_RESPONSES)


@router.get("/config/validate", summary="Check the workspace's recops.toml (admin)")
def validate(ws: WS, _p: Admin) -> JSONResponse:
    """Read recops.toml from disk again and check it, as `recops config validate` does.

    Answers 200 either way: ``valid``, ``problems`` (``key`` and ``message``; the checks
    stop at the first problem, so there is at most one), ``summary`` of a valid file, and
    ``matches_running``: whether the server runs with what the file says now (false: it
    was edited since the server started, which must restart to apply it).
    """
    path = ws.config.path
    out: dict[str, Any] = {"config": str(path), "valid": False, "problems": [], "summary": None}
    try:
        found = load_config(path)
    except ConfigError as exc:
        out["problems"].append({"key": exc.key, "message": str(exc)})
        return reply({**out, "matches_running": False})
    return reply({**out, "valid": True, "summary": found.summary(), "matches_running": found == ws.config})
