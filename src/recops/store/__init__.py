"""The metadata store: SQLAlchemy rows, Alembic migrations, SQLite or PostgreSQL."""

from __future__ import annotations

from recops.store.store import Store as Store
from recops.store.store import make_engine as make_engine

__all__ = ["Store", "make_engine"]
