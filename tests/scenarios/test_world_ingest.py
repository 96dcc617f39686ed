"""A simulated world with duplicates, conflicts and broken records mixed in, ingested.

Counts in the lake equal the simulator's distinct valid records for every kind; every
broken record is in quarantine with its rule and every conflict as a conflict; a second
ingest of the same files reads no rows and changes nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from recops.contract import KINDS
from recops.ingest.pipeline import ingest_files
from recops.sim import SimConfig, WriteManifest, simulate
from recops.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return simulate(SimConfig(seed=11, start="2026-10-01", days=21, requests_per_day=1_500))


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_world_ingest_counts_match_the_simulator(world, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    manifest: WriteManifest = world.write(
        tmp_path / "raw", fmt=fmt, duplicate_rate=0.03, broken_rate=0.01, conflict_rate=0.005, seed=5
    )
    ws = Workspace.init(tmp_path / "ws")
    reports = {}
    for kind in KINDS:
        folder = tmp_path / "raw" / kind
        if folder.exists():
            reports[kind] = ingest_files(ws.lake, kind, [folder])
    con = ws.lake.connect()
    for kind, expected in manifest.counts.items():
        stored = con.execute(f'SELECT count(*) FROM "{kind}"').fetchall()[0][0]
        assert stored == expected.distinct_valid, kind
        refused = con.execute(
            "SELECT rule, count(*) FROM quarantine WHERE kind = ? GROUP BY rule", [kind]
        ).fetchall()
        by_rule = Counter(dict(refused))
        conflicts = by_rule.pop("conflict", 0)
        assert conflicts == expected.conflicts_written, kind
        assert dict(by_rule) == expected.broken_by_rule, kind
        assert reports[kind].rows_duplicate == expected.duplicates_written, kind
    # Every broken record is in quarantine at its file and row.
    located = set(con.execute("SELECT source, row, rule FROM quarantine WHERE rule <> 'conflict'").fetchall())
    for kind, expected in manifest.counts.items():
        for broken in expected.broken:
            path = str((tmp_path / "raw" / broken.file).resolve())
            assert (path, broken.line, broken.rule) in located, (kind, broken)
    # Re-ingesting the same files reads nothing and changes nothing.
    before = {k: con.execute(f'SELECT count(*) FROM "{k}"').fetchall()[0][0] for k in [*KINDS, "quarantine"]}
    for kind in reports:
        again = ingest_files(ws.lake, kind, [tmp_path / "raw" / kind])
        assert (again.files_read, again.rows_read, again.files_skipped) == (0, 0, reports[kind].files_read)
    con = ws.lake.connect()
    after = {k: con.execute(f'SELECT count(*) FROM "{k}"').fetchall()[0][0] for k in [*KINDS, "quarantine"]}
    assert after == before
    ws.close()
