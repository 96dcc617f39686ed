"""Compaction keeps every row while cutting files; retention and vacuum; hidden orphans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from recops.ingest.pipeline import ingest_files
from recops.lake.maintenance import apply_retention, compact, vacuum
from recops.workspace import Workspace
from tests.records import request, write_jsonl


def rows(ws: Workspace) -> list[tuple[str]]:
    return ws.lake.connect().execute("SELECT request_id FROM requests ORDER BY 1").fetchall()


def test_compaction_keeps_rows_and_merges_files(workspace: Workspace, tmp_path: Path) -> None:
    for i in range(5):
        ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / f"{i}.jsonl", [request(f"r{i}")])])
    before = rows(workspace)
    assert len(workspace.lake.catalog.live_files("requests")) == 5
    report = compact(workspace.lake, min_files=3)
    assert (report.partitions, report.files_before, report.files_after, report.rows) == (1, 5, 1, 5)
    assert rows(workspace) == before
    assert len(workspace.lake.catalog.live_files("requests")) == 1
    # Replaced files stay on disk for readers holding old lists, until vacuum.
    assert len(list((workspace.config.data_dir / "requests").rglob("*.parquet"))) == 6
    assert vacuum(workspace.lake, grace=timedelta(0)) == 5
    assert len(list((workspace.config.data_dir / "requests").rglob("*.parquet"))) == 1
    assert rows(workspace) == before


def test_retention_hides_old_partitions(workspace: Workspace, tmp_path: Path) -> None:
    old = request("old", ts="2026-01-01T00:00:00Z")
    new = request("new", ts="2026-11-24T00:00:00Z")
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "a.jsonl", [old, new])])
    hidden = apply_retention(workspace.lake, days=30, now=datetime(2026, 11, 25, tzinfo=UTC))
    assert hidden == 1
    assert rows(workspace) == [("new",)]


def test_unlisted_files_are_invisible(workspace: Workspace, tmp_path: Path) -> None:
    ingest_files(workspace.lake, "requests", [write_jsonl(tmp_path / "a.jsonl", [request("r1")])])
    listed = workspace.lake.catalog.live_files("requests")[0]
    stray = listed.parent / "part-20990101T000000-deadbeef-0.parquet"
    stray.write_bytes(listed.read_bytes())  # e.g. left by a killed writer
    assert rows(workspace) == [("r1",)]
