"""The metadata store: one SQLAlchemy engine, migrated by Alembic, SQLite or PostgreSQL.

SQLAlchemy is imported when the engine is first needed, not with this module: a command
that only reads the lake catalog from a SQLite store (``recops trace``) reads it with the
standard library's ``sqlite3`` (:meth:`Store.read`) and never pays for the import (a
quarter of a second, with the ORM).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, closing, contextmanager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from recops.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine, Select
    from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_PREFIX = "sqlite:///"
# Stores open (and migrate) one at a time in a process: two Stores of one new database,
# first used from two threads, must not run the migrations at once.
_OPENING = threading.Lock()


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
    from sqlalchemy import types as sa_types

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
    from sqlalchemy import create_engine, event

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


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain ``sqlite:///PATH`` URL; None for any other store URL
    (PostgreSQL, in-memory SQLite, a URL with query options)."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    database = url[len(SQLITE_PREFIX) :]
    if not database or "?" in database or database == ":memory:":
        return None
    return Path(database)


def head_revision() -> str:
    """The newest migration's revision: each migration file is named after its revision."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _revision(engine: Engine) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        return None
    return str(value) if value is not None else None


def _upgrade(engine: Engine) -> None:
    """Apply every Alembic migration not yet applied; a store at the newest revision is
    left alone without importing Alembic (a quarter of a second on every command)."""
    if _revision(engine) == head_revision():
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """The metadata store, opened on first use and kept at the newest schema.

    The engine is created, and the schema migrated, when something first needs it
    (:attr:`engine`), not when the store is constructed: a command that reads no store
    table, or only reads through :meth:`read` from SQLite, never opens it.

    Args:
        url: SQLAlchemy URL.
        migrate: bring the schema to the latest migration when opened (default).
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self._migrate = migrate
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine; the first access creates it and migrates the schema.

        Raises:
            ConfigError: the URL is not a usable SQLite or PostgreSQL URL.
        """
        if self._engine is None:
            with _OPENING:
                if self._engine is None:
                    engine = make_engine(self.url)
                    if self._migrate:
                        _upgrade(engine)
                    self._engine = engine
        return self._engine

    def migrate(self) -> None:
        """Apply every Alembic migration not yet applied (idempotent)."""
        _upgrade(self.engine)

    def revision(self) -> str | None:
        """The store's migration revision, or None before the first migration."""
        return _revision(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        from sqlalchemy.orm import Session

        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def read(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of one read-only query, in SQL that SQLite and PostgreSQL both run,
        with ``:name`` parameters.

        A SQLite store that this process has not opened is read with the standard
        library's ``sqlite3``: no SQLAlchemy import, no migration check. If that fails
        (no database file yet, a table older than the query), and for every other
        store, the query runs through :attr:`engine`, which opens and migrates the store.
        """
        path = sqlite_file(self.url) if self._engine is None else None
        if path is not None and path.is_file():
            uri = f"{path.resolve().as_uri()}?mode=rw"  # an existing file: never creates one
            try:
                with closing(sqlite3.connect(uri, uri=True, timeout=30)) as con:
                    return con.execute(sql, dict(params)).fetchall()
            except sqlite3.Error:
                pass
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), dict(params))]

    def lock(self, name: str) -> AbstractContextManager[None]:
        """The named cross-process writer lock."""
        from recops.store.locks import writer_lock

        return writer_lock(self.engine, name)

    def table_names(self) -> list[str]:
        from sqlalchemy import inspect

        return sorted(n for n in inspect(self.engine).get_table_names() if n != "alembic_version")

    def read_table(self, name: str, *, limit: int | None = None) -> pa.Table:
        """Read a store table into Arrow (for ``recops sql``): all of it, or its first ``limit`` rows."""
        from sqlalchemy import MetaData, Table, select

        if name not in self.table_names():
            raise KeyError(name)
        table = Table(name, MetaData(), autoload_with=self.engine)
        statement = select(*table.columns)
        return self.fetch_arrow(statement if limit is None else statement.limit(limit))

    def fetch_arrow(self, statement: Select[Any]) -> pa.Table:
        """Run a SELECT and return its rows as Arrow, column by column.

        Times are fetched raw (SQLite keeps them as text) and converted by Arrow, which is
        much faster than SQLAlchemy's row-by-row parsing on large tables.
        """
        from sqlalchemy import String, type_coerce

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
        if self._engine is not None:
            self._engine.dispose()
