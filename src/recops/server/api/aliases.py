"""``GET /api/models/{model}/aliases/{alias}``: the alias lookup serving systems poll.

Kept apart from the rest of the registry because it is on the serving path: it reads
``registry_aliases`` by primary key through :func:`recops.registry.aliases.lookup_alias`
(one query for the version, its artifact and when the alias moved) with no cache, so a
promote or rollback is visible to the very next lookup.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from recops.registry._canonical import iso
from recops.registry.aliases import lookup_alias
from recops.server.api._common import AUTH_RESPONSES, WS, Viewer, reply

router = APIRouter(tags=["serving"], responses=AUTH_RESPONSES)


@router.get(
    "/models/{model}/aliases/{alias}",
    summary="Resolve an alias to its version (serving lookup)",
    responses={404: {"description": "The model has no such alias."}},
)
def lookup(model: str, alias: str, ws: WS, _p: Viewer) -> JSONResponse:
    """The version ``alias`` names now, its artifact URI and since when it has named it.

    Answers ``{"model", "alias", "version", "artifact_uri", "since"}``. No cache: right
    after `POST /api/rollback` or `POST /api/promote` this returns the new version.
    """
    target = lookup_alias(ws.store, model, alias)
    return reply(
        {
            "model": model,
            "alias": alias,
            "version": target.version,
            "artifact_uri": target.artifact_uri,
            "since": iso(target.since),
        }
    )
