"""DuckDB over the lake: one view per record kind, ``candidates``, ``quarantine``.

Views read exactly the files the catalog lists, never a directory glob, so a batch that
is still being written (or was abandoned by a killed process) is invisible.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from recops.contract import BOOKKEEPING, KINDS
from recops.lake.catalog import Catalog
from recops.lake.layout import QUARANTINE, QUARANTINE_SCHEMA
from recops.lake.sqltext import literal, quote

CANDIDATES_VIEW = """
CREATE OR REPLACE VIEW candidates AS
SELECT r.request_id, r.ts, r.surface, r.user_id, r.model, r.model_version,
       c.item_id, c.source, c.score, c.position, c.propensity
FROM requests AS r, UNNEST(r.candidates) AS u(c)
"""


def spill_directory() -> Path:
    """Where DuckDB spills what does not fit in memory: this process's folder in the system
    temp directory (``TMPDIR``). DuckDB's own default is ``.tmp`` in the current directory,
    which litters wherever a command happens to run."""
    return Path(tempfile.gettempdir()) / f"recops-duckdb-{os.getpid()}"


def new_connection(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with recops' session settings (UTC, no progress bar,
    spilling to :func:`spill_directory`)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{str(spill_directory()).replace(chr(39), chr(39) * 2)}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def file_list_sql(paths: Iterable[Path | str]) -> str:
    return "[" + ", ".join(literal(str(p)) for p in paths) + "]"


def _no_rows(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> str:
    """A subquery of no rows with the schema's columns, in SQL alone (no table to list)."""
    types = con.from_arrow(schema.empty_table()).types
    columns = ", ".join(
        f"CAST(NULL AS {duckdb_type}) AS {quote(name)}"
        for name, duckdb_type in zip(schema.names, types, strict=True)
    )
    return f"(SELECT {columns} LIMIT 0)"


def create_views(con: duckdb.DuckDBPyConnection, catalog: Catalog) -> list[str]:
    """Create (or refresh) a view per record kind plus candidates and quarantine."""
    names: list[str] = []
    for name, kind in KINDS.items():
        schema = pa.schema(list(kind.schema) + list(BOOKKEEPING))
        _create_view(con, name, catalog.live_files(name), schema)
        names.append(name)
    _create_view(con, QUARANTINE, catalog.live_files(QUARANTINE), QUARANTINE_SCHEMA)
    con.execute(CANDIDATES_VIEW)
    return [*names, "candidates", QUARANTINE]


def _create_view(con: duckdb.DuckDBPyConnection, name: str, files: list[Path], schema: pa.Schema) -> None:
    if files:
        source = f"read_parquet({file_list_sql(files)}, union_by_name = true, hive_partitioning = false)"
    else:
        source = _no_rows(con, schema)
    con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS SELECT * FROM {source}")
