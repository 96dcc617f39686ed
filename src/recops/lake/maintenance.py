"""Keeping the lake healthy: compaction of small files, retention, vacuum.

The SDK and HTTP ingest commit many small batches; readers pay per file, so a date
partition with many files is rewritten as one. Replaced and expired files are hidden in
the catalog at once and deleted by vacuum after a grace period, so a reader that listed
them a moment ago never finds them gone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import KINDS
from recops.lake.catalog import BatchCounts
from recops.lake.lake import Lake
from recops.lake.layout import QUARANTINE, new_batch_id, write_parquet

SMALL_FILE_BYTES = 64 << 20
VACUUM_GRACE = timedelta(hours=1)


@dataclass
class CompactionReport:
    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    rows: int = 0


def _time_column(kind: str) -> str:
    return KINDS[kind].time_column if kind in KINDS else "_ingested_at"


def compact(lake: Lake, *, min_files: int) -> CompactionReport:
    """Rewrite every date partition holding ``min_files`` or more small files as one file."""
    report = CompactionReport()
    with lake.writer() as catalog:
        for kind in [*KINDS, QUARANTINE]:
            by_date: dict[str, list[Path]] = defaultdict(list)
            for row in catalog.live_file_rows(kind):
                if row.bytes < SMALL_FILE_BYTES:
                    by_date[row.date].append(lake.data_dir / row.path)
            for date, files in sorted(by_date.items()):
                if len(files) < min_files:
                    continue
                batch_id = new_batch_id()
                catalog.begin(batch_id, kind, "compaction")
                target = lake.data_dir / kind / f"date={date}" / f"part-{batch_id}-0.parquet"
                table = pa.concat_tables(
                    [pq.read_table(f) for f in sorted(files)], promote_options="permissive"
                ).sort_by(_time_column(kind))
                write_parquet(table, target)
                rows = table.num_rows
                counts = BatchCounts(rows_read=rows, rows_stored=rows)
                catalog.commit(batch_id, kind, {kind: [target]}, [], counts, removed=files)
                report.partitions += 1
                report.files_before += len(files)
                report.files_after += 1
                report.rows += rows
    return report


def apply_retention(lake: Lake, *, days: int, now: datetime | None = None) -> int:
    """Hide every partition older than ``days`` days (0 keeps everything); returns files hidden."""
    if days <= 0:
        return 0
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).strftime("%Y-%m-%d")
    with lake.writer() as catalog:
        expired = [
            lake.data_dir / row.path
            for kind in [*KINDS, QUARANTINE]
            for row in catalog.live_file_rows(kind)
            if row.date < cutoff
        ]
        if expired:
            catalog.remove(expired)
    return len(expired)


def vacuum(lake: Lake, *, grace: timedelta = VACUUM_GRACE) -> int:
    """Delete files hidden longer than ``grace`` ago; returns how many were deleted."""
    with lake.writer() as catalog:
        return catalog.vacuum(grace)
