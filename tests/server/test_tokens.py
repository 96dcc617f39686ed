"""Tokens: shown once, stored as digests, roles ordered, revocation at once, audited."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from recops.errors import InvalidInput, NotFound
from recops.registry.audit import entries
from recops.server.tokens import (
    ROLES,
    any_live_token,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)
from recops.store.tables import ApiTokenRow
from recops.workspace import Workspace


def test_a_token_is_stored_only_as_its_sha256_digest(any_workspace: Workspace) -> None:
    secret = create_token(any_workspace.store, "ci", "ingest", created_by="alice")
    with any_workspace.store.session() as session:
        row = session.scalars(select(ApiTokenRow)).one()
        stored = [str(v) for v in (row.name, row.role, row.digest, row.created_by)]
    assert secret not in stored
    assert row.digest == hashlib.sha256(secret.encode()).hexdigest()
    principal = authenticate(any_workspace.store, secret)
    assert principal is not None and (principal.name, principal.role) == ("ci", "ingest")
    assert principal.actor == "token:ci"


def test_unknown_wrong_and_revoked_tokens_do_not_authenticate(any_workspace: Workspace) -> None:
    store = any_workspace.store
    assert not any_live_token(store)
    secret = create_token(store, "grafana", "viewer", created_by="alice")
    assert any_live_token(store)
    assert authenticate(store, secret + "x") is None
    assert authenticate(store, "not-a-recops-token") is None
    revoke_token(store, "grafana", actor="alice")
    assert authenticate(store, secret) is None
    assert not any_live_token(store)
    assert list_tokens(store)[0].revoked_at is not None


def test_roles_include_the_ones_before_them(workspace: Workspace) -> None:
    principals = {
        role: authenticate(workspace.store, create_token(workspace.store, role, role, created_by="t"))
        for role in ROLES
    }
    can = {role: [r for r in ROLES if p is not None and p.can(r)] for role, p in principals.items()}
    assert can == {
        "viewer": ["viewer"],
        "ingest": ["viewer", "ingest"],
        "operator": ["viewer", "ingest", "operator"],
        "admin": ["viewer", "ingest", "operator", "admin"],
    }


def test_bad_role_duplicate_name_and_unknown_revoke_are_clear_errors(workspace: Workspace) -> None:
    with pytest.raises(InvalidInput, match="unknown role 'root'"):
        create_token(workspace.store, "x", "root", created_by="t")
    create_token(workspace.store, "x", "viewer", created_by="t")
    with pytest.raises(InvalidInput, match="a token named 'x' exists"):
        create_token(workspace.store, "x", "viewer", created_by="t")
    with pytest.raises(NotFound, match="no token named 'y'"):
        revoke_token(workspace.store, "y", actor="t")


def test_creating_and_revoking_tokens_is_audited(workspace: Workspace) -> None:
    create_token(workspace.store, "bot", "operator", created_by="alice")
    revoke_token(workspace.store, "bot", actor="bob")
    log = [(e.actor, e.action, e.subject) for e in entries(workspace.store)]
    assert log[-2:] == [("alice", "token.create", "token:bot"), ("bob", "token.revoke", "token:bot")]
