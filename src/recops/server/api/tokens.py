"""``/api/tokens``: API tokens for admins (``recops token``).

Creating answers the secret once (only its digest is stored); creating and revoking are
audited by :mod:`recops.server.tokens` with the admin's token as actor.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.server.api._common import AUTH_RESPONSES, WS, Admin, reply
from recops.server.tokens import ROLE_HELP, create_token, list_tokens, revoke_token

router = APIRouter(tags=["tokens"], responses=AUTH_RESPONSES)


class TokenIn(BaseModel):
    name: str = Field(description="A name for the holder (kept in the audit log).")
    role: str = Field(default="viewer", description="; ".join(f"{r}: {h}" for r, h in ROLE_HELP.items()))


@router.get("/tokens", summary="List tokens (admin)")
def tokens(ws: WS, _p: Admin) -> JSONResponse:
    """Names, roles, who created them, revoked or not; never the secrets."""
    return reply([t.to_dict() for t in list_tokens(ws.store)])


@router.post("/tokens", summary="Create a token (admin)", status_code=201)
def create(body: TokenIn, ws: WS, principal: Admin) -> JSONResponse:
    """Answers ``token``, the secret, this once: keep it (the store holds only its digest)."""
    secret = create_token(ws.store, body.name, body.role, created_by=principal.actor)
    return reply({"name": body.name, "role": body.role, "token": secret}, status_code=201)


@router.post("/tokens/{name}/revoke", summary="Revoke a token (admin)")
def revoke(name: str, ws: WS, principal: Admin) -> JSONResponse:
    """Requests with it get 401 from then on."""
    return reply(revoke_token(ws.store, name, actor=principal.actor).to_dict())
