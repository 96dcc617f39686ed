"""`recops sql` is read-only: no writes, no files outside the lake, a row limit, a timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from recops.errors import InvalidInput, ReadOnlyViolation
from recops.ingest.pipeline import ingest_files
from recops.lake.sql import run_sql, sandbox
from recops.workspace import Workspace
from tests.records import request, write_jsonl


@pytest.fixture
def con(workspace: Workspace, tmp_path: Path):  # type: ignore[no-untyped-def]
    rows = [request(f"r{i}") for i in range(30)]
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "in.jsonl", rows)])
    return sandbox(workspace.lake, workspace.store)


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM requests",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO lake_files VALUES (1)",
        "COPY (SELECT 1) TO 'out.csv'",
        "ATTACH 'other.db'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_writes_are_refused(con, query: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ReadOnlyViolation, match="read-only"):
        run_sql(con, query, max_rows=10, timeout_seconds=5)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_parquet('/tmp/../etc/x.parquet')",
    ],
)
def test_files_outside_the_lake_are_refused(con, query: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ReadOnlyViolation, match="reads only the lake"):
        run_sql(con, query, max_rows=10, timeout_seconds=5)


def test_lake_and_store_are_queryable(con) -> None:  # type: ignore[no-untyped-def]
    got = run_sql(con, "SELECT count(*) AS n FROM requests", max_rows=10, timeout_seconds=5)
    assert got.table.to_pylist() == [{"n": 30}]
    got = run_sql(con, "SELECT state, rows_stored FROM lake_batches", max_rows=10, timeout_seconds=5)
    assert got.table.to_pylist() == [{"state": "committed", "rows_stored": 30}]
    got = run_sql(con, "SELECT count(*) AS n FROM candidates", max_rows=10, timeout_seconds=5)
    assert got.table.to_pylist() == [{"n": 60}]


def test_listings_show_store_tables_without_reading_them(con, workspace: Workspace) -> None:  # type: ignore[no-untyped-def]
    full = run_sql(con, "SELECT count(*) FROM lake_batches", max_rows=1, timeout_seconds=5)
    assert full.table[0][0].as_py() == 1  # the fixture's ingest
    query = "SHOW TABLES"
    listed = run_sql(
        sandbox(workspace.lake, workspace.store, query=query), query, max_rows=100, timeout_seconds=5
    )
    names = listed.table.column("name").to_pylist()
    assert {"requests", "candidates", "quarantine", "lake_batches", "metric_points"} <= set(names)
    assert "api_tokens" not in names and "alembic_version" not in names  # private tables stay private
    query = "SELECT table_name, column_name FROM information_schema.columns"
    con = sandbox(workspace.lake, workspace.store, query=query)
    columns = run_sql(con, query, max_rows=10_000, timeout_seconds=5).table.to_pylist()
    assert {"table_name": "lake_batches", "column_name": "rows_stored"} in columns
    # registered empty: listed, not read (a query naming the table reads it whole)
    assert (
        run_sql(con, "SELECT count(*) FROM lake_batches", max_rows=1, timeout_seconds=5).table[0][0].as_py()
        == 0
    )


def test_a_kind_with_no_files_is_a_typed_view_and_nothing_else(con) -> None:  # type: ignore[no-untyped-def]
    listed = run_sql(con, "SHOW TABLES", max_rows=100, timeout_seconds=5).table.column("name").to_pylist()
    assert "outcomes" in listed
    assert [name for name in listed if name.startswith("_")] == []
    described = run_sql(con, "DESCRIBE outcomes", max_rows=100, timeout_seconds=5).table.to_pylist()
    types = {row["column_name"]: row["column_type"] for row in described}
    assert types["ts"] == "TIMESTAMP WITH TIME ZONE" and types["value"] == "DOUBLE"
    counted = run_sql(con, "SELECT count(*) FROM outcomes", max_rows=1, timeout_seconds=5)
    assert counted.table[0][0].as_py() == 0
    nested = run_sql(con, "DESCRIBE feature_rows", max_rows=100, timeout_seconds=5).table.to_pylist()
    assert any(row["column_type"].startswith("MAP(") for row in nested)


def test_row_limit(con) -> None:  # type: ignore[no-untyped-def]
    got = run_sql(con, "SELECT * FROM candidates", max_rows=7, timeout_seconds=5)
    assert got.table.num_rows == 7 and got.truncated


def test_timeout_interrupts(con) -> None:  # type: ignore[no-untyped-def]
    slow = "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range * b.range = -1"
    with pytest.raises(InvalidInput, match="timeout"):
        run_sql(con, slow, max_rows=10, timeout_seconds=0.5)


def test_bad_sql_is_bad_input(con) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="SQL error"):
        run_sql(con, "SELEC 1", max_rows=10, timeout_seconds=5)


def test_duckdb_spills_to_the_system_temp_directory_not_the_current_one() -> None:
    import tempfile

    from recops.lake.engine import new_connection, spill_directory

    con = new_connection()
    row = con.execute("SELECT current_setting('temp_directory')").fetchone()
    con.close()
    assert row is not None and row[0] == str(spill_directory())
    assert spill_directory().parent == Path(tempfile.gettempdir())
