"""API tokens with roles: created once, shown once, stored as SHA-256 digests.

A token reads ``recops_<random>``; the store keeps only its digest, so a leaked database
or backup holds no usable credential. Roles are ordered: each includes the ones before
it (``viewer`` < ``ingest`` < ``operator`` < ``admin``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from recops.errors import InvalidInput, NotFound
from recops.registry.audit import append, registry_session
from recops.store import Store
from recops.store.tables import ApiTokenRow

ROLES = ("viewer", "ingest", "operator", "admin")
ROLE_HELP = {
    "viewer": "reads everything: pages, API reads, read-only SQL, /metrics",
    "ingest": "viewer, plus writes records and registers model versions (services, pipelines)",
    "operator": "ingest, plus acknowledges alerts, promotes, rolls back, runs playbooks, incidents",
    "admin": "operator, plus manages tokens",
}
PREFIX = "recops_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and role."""

    token_id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"token:{self.name}"

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def create_token(store: Store, name: str, role: str, *, created_by: str) -> str:
    """Create a token and return its secret (the only time it is ever seen).

    Raises:
        InvalidInput: unknown role, empty name, or a token of that name exists.
    """
    check_role(role)
    if not name or len(name) > 100:
        raise InvalidInput("a token name is 1 to 100 characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    with registry_session(store) as session:
        if session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.name == name)) is not None:
            raise InvalidInput(f"a token named {name!r} exists; revoke it or choose another name")
        session.add(
            ApiTokenRow(
                name=name,
                role=role,
                digest=digest(secret),
                created_at=datetime.now(UTC),
                created_by=created_by,
                revoked_at=None,
            )
        )
        append(
            session, actor=created_by, action="token.create", subject=f"token:{name}", payload={"role": role}
        )
    return secret


def authenticate(store: Store, token: str) -> Principal | None:
    """The principal of a live token, or None for an unknown or revoked one."""
    if not token.startswith(PREFIX):
        return None
    with store.session() as session:
        row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.digest == digest(token)))
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.id, row.name, row.role)


def list_tokens(store: Store) -> list[TokenInfo]:
    with store.session() as session:
        rows = session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id)).all()
        return [TokenInfo(r.id, r.name, r.role, r.created_at, r.created_by, r.revoked_at) for r in rows]


def any_live_token(store: Store) -> bool:
    with store.session() as session:
        return (
            session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.revoked_at.is_(None)).limit(1))
            is not None
        )


def revoke_token(store: Store, name: str, *, actor: str) -> TokenInfo:
    """Revoke the token called ``name`` (it stops working at once).

    Raises:
        NotFound: no token has that name.
    """
    with registry_session(store) as session:
        row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.name == name))
        if row is None:
            raise NotFound(f"no token named {name!r} (`recops token list`)")
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
            append(session, actor=actor, action="token.revoke", subject=f"token:{name}", payload={})
        return TokenInfo(row.id, row.name, row.role, row.created_at, row.created_by, row.revoked_at)
