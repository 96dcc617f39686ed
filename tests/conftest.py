"""Shared fixtures: workspaces on a real SQLite file, and the real PostgreSQL when asked."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from recops.workspace import Workspace

PG_ENV = "RECOPS_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL, dropped afterwards; skips when not configured."""
    base = postgres_url()
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A bare workspace on SQLite."""
    ws = Workspace.init(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def any_workspace(tmp_path: Path, store_url: str) -> Iterator[Workspace]:
    """A workspace on SQLite and on PostgreSQL."""
    ws = Workspace.init(tmp_path / "ws", store_url=store_url)
    yield ws
    ws.close()
