"""How lake files are written: Bloom filters on lookup keys."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from recops.lake.layout import write_parquet


def test_lookup_keys_get_bloom_filters_that_exclude_absent_ids(tmp_path: Path) -> None:
    n = 5_000
    table = pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "user_id": [f"u{i % 97}" for i in range(n)],
            "surface": ["home_row"] * n,
        }
    )
    path = tmp_path / "part.parquet"
    write_parquet(table, path)
    con = duckdb.connect()
    filtered = dict(
        con.execute(
            "SELECT path_in_schema, bloom_filter_length FROM parquet_metadata(?)", [str(path)]
        ).fetchall()
    )
    assert filtered["request_id"] and filtered["user_id"] and filtered["surface"] is None

    def excluded(column: str, value: str) -> bool:
        query = "SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, ?, ?)"
        return bool(con.execute(query, [str(path), column, value]).fetchall()[0][0])

    assert not excluded("request_id", "r123") and not excluded("user_id", "u5")
    # 1% false positives: of 200 absent ids, nearly all are excluded without reading.
    absent = sum(excluded("request_id", f"absent-{i}") for i in range(200))
    assert absent >= 190
    assert pq.read_table(path).equals(table)
