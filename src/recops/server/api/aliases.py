"""``GET /api/models/{model}/aliases/{alias}``: the alias lookup serving systems poll.

Kept apart from the rest of the registry because it is on the serving path: it reads
``registry_aliases`` by primary key through :func:`recops.registry.aliases.resolve_alias`
with no cache, so a promote or rollback is visible to the very next lookup.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from recops.registry._canonical import iso
from recops.registry.aliases import current_aliases, resolve_alias
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
    version, uri = resolve_alias(ws.store, model, alias)
    # ``since`` comes from the model's alias rows; a move between the two reads leaves it
    # null rather than pairing a version with another version's time.
    state = next((s for s in current_aliases(ws.store, model) if s.alias == alias), None)
    return reply(
        {
            "model": model,
            "alias": alias,
            "version": version,
            "artifact_uri": uri,
            "since": iso(state.since) if state is not None and state.version == version else None,
        }
    )
