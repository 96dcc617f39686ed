"""Natural keys: one stored copy per key, the first wins, different content is a conflict."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import REQUESTS
from recops.ingest.pipeline import ingest_files
from recops.workspace import Workspace
from tests.records import request, write_jsonl


def count(ws: Workspace, sql: str) -> int:
    return int(ws.lake.connect().execute(sql).fetchall()[0][0])


def test_repeats_inside_one_file(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [request("r1"), request("r1"), request("r1", surface="search")])
    report = ingest_files(workspace.lake, "requests", [path])
    assert (report.rows_stored, report.rows_duplicate, report.rows_conflict) == (1, 1, 1)
    assert count(workspace, "SELECT count(*) FROM requests WHERE surface = 'home_row'") == 1
    assert count(workspace, "SELECT count(*) FROM quarantine WHERE rule = 'conflict'") == 1


def test_overlapping_files_across_batches(workspace: Workspace, tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [request("r1"), request("r2")])
    ingest_files(workspace.lake, "requests", [first])
    second = write_jsonl(tmp_path / "b.jsonl", [request("r2"), request("r3"), request("r1", status="error")])
    report = ingest_files(workspace.lake, "requests", [second])
    assert (report.rows_stored, report.rows_duplicate, report.rows_conflict) == (1, 1, 1)
    assert count(workspace, "SELECT count(*) FROM requests") == 3
    detail = workspace.lake.connect().execute("SELECT detail FROM quarantine").fetchall()[0][0]
    assert "different content" in detail and "batch" in detail


def test_unchanged_file_is_skipped_without_reading(workspace: Workspace, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [request("r1")])
    ingest_files(workspace.lake, "requests", [path])
    again = ingest_files(workspace.lake, "requests", [tmp_path])
    assert (again.files_skipped, again.files_read, again.rows_read) == (1, 0, 0)
    write_jsonl(path, [request("r1"), request("r2")])  # changed: read again, r1 deduplicated
    changed = ingest_files(workspace.lake, "requests", [path])
    assert (changed.files_read, changed.rows_stored, changed.rows_duplicate) == (1, 1, 1)


def test_outcome_key_includes_time(workspace: Workspace, tmp_path: Path) -> None:
    base = {"request_id": "r1", "item_id": "i1", "event": "click"}
    rows = [
        {**base, "ts": "2026-11-24T13:00:00Z"},
        {**base, "ts": "2026-11-24T13:00:05Z"},
        {**base, "ts": "2026-11-24T13:00:00Z"},
    ]
    report = ingest_files(workspace.lake, "outcomes", [write_jsonl(tmp_path / "o.jsonl", rows)])
    assert (report.rows_stored, report.rows_duplicate) == (2, 1)


def test_change_key_with_null_version(workspace: Workspace, tmp_path: Path) -> None:
    row = {"ts": "2026-11-24T13:00:00Z", "kind": "config", "target": "ranker", "version": None}
    report = ingest_files(workspace.lake, "changes", [write_jsonl(tmp_path / "c.jsonl", [row, row])])
    assert (report.rows_stored, report.rows_duplicate) == (1, 1)


def test_same_record_by_json_and_parquet_is_one_row(workspace: Workspace, tmp_path: Path) -> None:
    """The same record gives the same stored row whichever transport brought it."""
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "a.jsonl", [request("r1")])])
    stored = workspace.lake.connect().execute("SELECT * EXCLUDE (_batch, _ingested_at) FROM requests")
    table = stored.to_arrow_table().cast(REQUESTS.schema)
    pq.write_table(table, tmp_path / "same.parquet")
    report = ingest_files(workspace.lake, "requests", [tmp_path / "same.parquet"])
    assert (report.rows_duplicate, report.rows_conflict) == (1, 0)


def test_parquet_with_loose_types(workspace: Workspace, tmp_path: Path) -> None:
    """Naive timestamps are UTC, integers are accepted where doubles are named."""
    from datetime import datetime

    table = pa.table(
        {
            "request_id": ["p1", "p2"],
            "ts": pa.array([datetime(2026, 11, 24, 13), datetime(2026, 11, 24, 14)], pa.timestamp("ms")),
            "surface": ["home_row", "search"],
            "user_id": ["u1", "u2"],
            "model": ["ranker", "ranker"],
            "model_version": ["v1", "v1"],
            "status": ["ok", "bogus"],
            "latency_ms": pa.array([12, 30], pa.int32()),
            "candidates": pa.array(
                [[{"item_id": "i1", "source": "s", "position": 0}], []],
                pa.list_(
                    pa.struct([("item_id", pa.string()), ("source", pa.string()), ("position", pa.int64())])
                ),
            ),
        }
    )
    pq.write_table(table, tmp_path / "loose.parquet")
    report = ingest_files(workspace.lake, "requests", [tmp_path / "loose.parquet"])
    assert (report.rows_stored, report.rows_quarantined) == (1, 1)
    con = workspace.lake.connect()
    assert con.execute("SELECT strftime(ts, '%H'), latency_ms FROM requests").fetchall() == [("13", 12.0)]
    assert con.execute("SELECT row, rule FROM quarantine").fetchall() == [(2, "allowed")]


def test_wide_feature_rows_parquet(workspace: Workspace, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 11, 24, 13, tzinfo=UTC)
    table = pa.table(
        {
            "feature_group": ["user_profile"] * 2,
            "entity_id": ["u1", "u2"],
            "event_ts": [t, t],
            "materialized_at": [t, t],
            "tenure_days": [10.0, None],
            "sessions_7d": pa.array([3, 4], pa.int64()),
            "genre": ["drama", None],
        }
    )
    pq.write_table(table, tmp_path / "fr.parquet")
    report = ingest_files(workspace.lake, "feature_rows", [tmp_path / "fr.parquet"])
    assert report.rows_stored == 2
    rows = (
        workspace.lake.connect()
        .execute('SELECT entity_id, "values", value_strings FROM feature_rows ORDER BY entity_id')
        .fetchall()
    )
    assert rows[0] == ("u1", {"sessions_7d": 3.0, "tenure_days": 10.0}, {"genre": "drama"})
    assert rows[1] == ("u2", {"genre": None, "sessions_7d": 4.0, "tenure_days": None}, {})


def test_a_whole_batch_of_conflicts_is_quarantined(workspace: Workspace, tmp_path: Path) -> None:
    """Re-sending a day with every record changed refuses every record, and loses none."""
    first = [request(f"r{i}") for i in range(300)]
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "a.jsonl", first)])
    changed = [request(f"r{i}", latency_ms=99.0) for i in range(300)]
    report = ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "b.jsonl", changed)])
    assert (report.rows_stored, report.rows_conflict, report.rows_quarantined) == (0, 300, 300)
    con = workspace.lake.connect()
    assert count(workspace, "SELECT count(*) FROM requests WHERE latency_ms = 12.5") == 300
    refused = con.execute("SELECT count(DISTINCT row) FROM quarantine WHERE rule = 'conflict'").fetchall()
    assert refused == [(300,)]
