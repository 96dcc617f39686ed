"""``GET /api/config/validate``: check the workspace's recops.toml (``recops config validate``).

Admin only: settings say where the store is and how the server runs. The answer is the
verdict, the problem found and a summary; never the file itself, and the store URL only
with its password and query string removed, so no secret leaves through this route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from recops.config import Config, load_config
from recops.errors import ConfigError
from recops.server.api._common import AUTH_RESPONSES, WS, Admin, reply

router = APIRouter(tags=["config"], responses=AUTH_RESPONSES)


def safe_store_url(url: str) -> str:
    """The store URL without its password or query (which may carry credentials too)."""
    try:
        return make_url(url).set(query={}).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a valid SQLAlchemy URL)"


def summary(cfg: Config) -> dict[str, Any]:
    """What `recops config validate` shows, with the store URL made safe to show."""
    return {
        "timezone": cfg.timezone,
        "store_url": safe_store_url(cfg.store_url),
        "data_dir": str(cfg.data_dir),
        "feature_groups": {g.name: g.ttl_hours for g in cfg.feature_groups.values()},
        "sources": {s.name: s.schedule for s in cfg.sources.values()},
    }


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
    return reply({**out, "valid": True, "summary": summary(found), "matches_running": found == ws.config})
