"""Read-only SQL over the lake and the store's tables (``recops sql``).

The sandbox: only SELECT statements run; DuckDB's file access is limited to the lake
folder and then locked, so no query can read ``/etc/passwd``, attach a database or load
an extension; results stop at a row limit and a query is interrupted at a timeout.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from recops.errors import InvalidInput, ReadOnlyViolation
from recops.lake.lake import Lake
from recops.store import Store

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


@dataclass
class SqlResult:
    table: pa.Table
    truncated: bool


# Store tables SQL never shows: token digests are credentials' fingerprints, and Alembic's
# bookkeeping is noise.
PRIVATE_TABLES = frozenset({"api_tokens", "alembic_version"})
#: Words of a query that lists tables or columns (``SHOW TABLES``, ``information_schema``):
#: the store's tables are then registered empty, so that they are listed without being read.
LISTING_WORDS = frozenset(
    {"show", "tables", "information_schema", "duckdb_tables", "duckdb_views", "duckdb_columns"}
)


def sandbox(lake: Lake, store: Store | None = None, *, query: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with every lake view and store table, locked down for read-only use.

    Store tables are copied into the connection when registered, so with ``query`` given
    only the tables it names are read (``metric_points`` can hold millions of rows).
    """
    con = lake.connect()
    if store is not None:
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query.lower())) if query is not None else None
        listing = words is not None and bool(words & LISTING_WORDS)
        for name in store.table_names():
            if name in PRIVATE_TABLES:
                continue
            if words is None or name in words:
                con.register(name, store.read_table(name))
            elif listing:  # SHOW TABLES and the like: the table's columns, none of its rows
                con.register(name, store.read_table(name, limit=0))
    con.execute(f"SET allowed_directories = ['{lake.data_dir.resolve()!s}/']")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def run_sql(
    con: duckdb.DuckDBPyConnection, query: str, *, max_rows: int, timeout_seconds: float
) -> SqlResult:
    """Run one read-only statement in a sandboxed connection.

    Raises:
        ReadOnlyViolation: the statement would write, or reach outside the lake.
        InvalidInput: the SQL does not parse or fails.
    """
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {exc}") from None
    if len(statements) != 1:
        raise InvalidInput(f"expected one SQL statement, got {len(statements)}")
    if statements[0].type not in ALLOWED:
        raise ReadOnlyViolation(
            f"refused: recops sql is read-only ({statements[0].type.name} statements are not "
            "allowed; use SELECT)"
        )
    timer = threading.Timer(timeout_seconds, con.interrupt)
    timer.start()
    try:
        reader = con.execute(query).to_arrow_reader(min(max_rows + 1, 100_000))
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if rows > max_rows:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused: {exc} (recops sql reads only the lake)") from None
    except duckdb.InterruptException:
        raise InvalidInput(f"query stopped after the {timeout_seconds:g} s timeout") from None
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {exc}") from None
    finally:
        timer.cancel()
    truncated = table.num_rows > max_rows
    return SqlResult(table.slice(0, max_rows), truncated)
