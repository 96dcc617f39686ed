"""``POST /api/models/import/mlflow``: bring an MLflow registry across (``recops registry import-mlflow``).

It registers versions and moves aliases, and it makes the server call a URL the caller
names, so it needs the admin role: an ingest token (held by every serving replica and
pipeline) must not be able to point the server at internal addresses and read back what
they answer. The library audits each version and alias move under its MLflow author (or
``mlflow-import``); the import itself is audited here as ``mlflow.import`` with the token
as actor, so the log says who pulled them in.

MLflow failing (unreachable, answering an error or not being MLflow at all) is the
upstream's failure, not the caller's: 502, with the library's reason. A tracking URI that
is not ``http(s)://HOST:PORT`` is the caller's: 400.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.errors import NotFound
from recops.registry.mlflow_import import MlflowError, import_mlflow
from recops.server.api._common import AUTH_RESPONSES, WS, Admin, audit_write, reply

router = APIRouter(tags=["registry"], responses=AUTH_RESPONSES)


class MlflowImportIn(BaseModel):
    tracking_uri: str = Field(description="http(s)://HOST:PORT of the MLflow tracking server.")
    models: list[str] | None = Field(default=None, description="Only these registered models (default: all).")
    timeout_seconds: float = Field(default=30.0, gt=0, le=300, description="Per-request timeout.")


@router.post(
    "/models/import/mlflow",
    summary="Import registered models, versions and aliases from MLflow (admin)",
    responses={
        400: {"description": "The tracking URI is not http(s)://HOST:PORT."},
        502: {"description": "MLflow could not be reached, answered an error or is not MLflow."},
    },
)
def import_from_mlflow(body: MlflowImportIn, ws: WS, principal: Admin) -> JSONResponse:
    """Each READY model version becomes a recops version (origin ``mlflow``) with its run's
    parameters, latest metrics, git commit, datasets and tags; MLflow's aliases become alias
    moves dated now. Running it again adds only what is new.

    Answers what `recops registry import-mlflow --json` prints (``models``, ``added``,
    ``skipped``, ``not_ready``, ``aliases_moved``, ``notes``) and ``audit_seq``.
    """
    try:
        report = import_mlflow(ws.store, body.tracking_uri, models=body.models, timeout=body.timeout_seconds)
    except (MlflowError, NotFound) as exc:
        # NotFound here is MLflow answering 404 to its own API: the URI is not an MLflow server.
        return reply({"detail": str(exc), "error": type(exc).__name__}, status_code=502)
    out = report.to_dict()
    out["audit_seq"] = audit_write(ws, principal, "mlflow.import", f"mlflow:{report.tracking_uri}", out)
    return reply(out)
