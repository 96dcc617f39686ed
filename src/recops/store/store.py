"""The metadata store: one SQLAlchemy engine, migrated by Alembic, SQLite or PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    Engine,
    MetaData,
    Select,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
    type_coerce,
)
from sqlalchemy import types as sa_types
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from recops.errors import ConfigError
from recops.store.locks import writer_lock

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; FULL makes a commit durable before it
    # returns, which the lake's atomic batch commit relies on.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _arrow_type(sql_type: Any) -> pa.DataType:
    """The Arrow type a store column is exposed as in ``recops sql``."""
    if isinstance(sql_type, sa_types.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa_types.Integer):
        return pa.int64()
    if isinstance(sql_type, sa_types.Float | sa_types.Numeric):
        return pa.float64()
    if isinstance(sql_type, sa_types.DateTime):
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _to_arrow(values: list[Any], arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(arrow_type):
        if any(isinstance(v, str) for v in values):
            return pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(arrow_type)
        return pa.array([v if v is None or v.tzinfo else v.replace(tzinfo=UTC) for v in values], arrow_type)
    if pa.types.is_string(arrow_type):
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    return pa.array(values, type=arrow_type)


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # sqlalchemy raises several types for a bad URL
        raise ConfigError(f"cannot use store URL: {exc}", key="workspace.store_url") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name != "postgresql":
        raise ConfigError(
            f"unsupported store {engine.dialect.name!r}: use sqlite or postgresql",
            key="workspace.store_url",
        )
    return engine


def head_revision() -> str:
    """The newest migration's revision: each migration file is named after its revision."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


class Store:
    """Opens the metadata store and keeps its schema current.

    Args:
        url: SQLAlchemy URL.
        migrate: bring the schema to the latest migration on open (default).
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Apply every Alembic migration not yet applied (idempotent).

        A store already at the newest revision is left alone without importing Alembic
        (a quarter of a second on every command).
        """
        if self.revision() == head_revision():
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def revision(self) -> str | None:
        """The store's migration revision, or None before the first migration."""
        try:
            with self.engine.connect() as conn:
                value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None
        return str(value) if value is not None else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def lock(self, name: str) -> AbstractContextManager[None]:
        """The named cross-process writer lock."""
        return writer_lock(self.engine, name)

    def table_names(self) -> list[str]:
        return sorted(n for n in inspect(self.engine).get_table_names() if n != "alembic_version")

    def read_table(self, name: str) -> pa.Table:
        """Read a whole store table into Arrow (for ``recops sql``)."""
        if name not in self.table_names():
            raise KeyError(name)
        table = Table(name, MetaData(), autoload_with=self.engine)
        return self.fetch_arrow(select(*table.columns))

    def fetch_arrow(self, statement: Select[Any]) -> pa.Table:
        """Run a SELECT and return its rows as Arrow, column by column.

        Times are fetched raw (SQLite keeps them as text) and converted by Arrow, which is
        much faster than SQLAlchemy's row-by-row parsing on large tables.
        """
        columns = list(statement.selected_columns)
        types = [_arrow_type(c.type) for c in columns]
        raw = statement.with_only_columns(
            *[
                type_coerce(c, String).label(c.name) if pa.types.is_timestamp(t) else c
                for c, t in zip(columns, types, strict=True)
            ]
        )
        with self.engine.connect() as conn:
            rows = conn.execute(raw).fetchall()
        values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        arrays = {c.name: _to_arrow(list(v), t) for c, v, t in zip(columns, values, types, strict=True)}
        return pa.table(arrays)

    def close(self) -> None:
        self.engine.dispose()
