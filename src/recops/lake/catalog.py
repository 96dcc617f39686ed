"""The lake catalog: which Parquet files make up the lake, kept in the metadata store.

A batch becomes visible in one store transaction that lists its files, its source files
and its counts. Files written by a batch that never committed (the process was killed)
are not listed, so no reader sees them, and the next writer deletes them.

The list of live files is read with plain SQL (:data:`LIVE_FILES`, through
:meth:`recops.store.Store.read`), so a reader of a SQLite store imports neither
SQLAlchemy nor the store's rows; the rest uses the ORM rows, imported when first called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from recops.lake.layout import batch_file_glob, date_of
from recops.store import Store

if TYPE_CHECKING:
    from recops.store.tables import LakeFileRow

#: The live files of a kind (``:kind``), as (date partition, path relative to the lake
#: folder), by date then path: the files a reader sees (``LakeFileRow``, not removed).
LIVE_FILES = "SELECT date, path FROM lake_files WHERE kind = :kind AND removed_at IS NULL ORDER BY date, path"


@dataclass(frozen=True)
class SourceFile:
    """A file offered for ingest, identified by path, size and modification time."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def stat(cls, path: Path) -> SourceFile:
        st = path.stat()
        return cls(str(path.resolve()), st.st_size, st.st_mtime_ns)


@dataclass
class BatchCounts:
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


class Catalog:
    """Reads and writes the lake's file list in the store."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = data_dir

    # ----------------------------------------------------------------- readers

    def live_files(self, kind: str) -> list[Path]:
        """The live files of ``kind``, by date partition then path."""
        return [path for _date, path in self.live_files_by_date(kind)]

    def live_files_by_date(self, kind: str) -> list[tuple[str, Path]]:
        """The live files of ``kind`` with their date partitions (``YYYY-MM-DD``), by date then path."""
        return [(d, self.data_dir / p) for d, p in self.store.read(LIVE_FILES, {"kind": kind})]

    def live_file_rows(self, kind: str) -> list[LakeFileRow]:
        from sqlalchemy import select

        from recops.store.tables import LakeFileRow

        with self.store.session() as s:
            return list(
                s.scalars(
                    select(LakeFileRow).where(LakeFileRow.kind == kind, LakeFileRow.removed_at.is_(None))
                ).all()
            )

    def already_ingested(self, kind: str, files: list[SourceFile]) -> set[SourceFile]:
        """The files whose exact (path, size, mtime) was committed before."""
        if not files:
            return set()
        from sqlalchemy import select

        from recops.store.tables import IngestedSourceRow

        paths = {f.path for f in files}
        with self.store.session() as s:
            rows = s.execute(
                select(IngestedSourceRow.path, IngestedSourceRow.size, IngestedSourceRow.mtime_ns).where(
                    IngestedSourceRow.kind == kind, IngestedSourceRow.path.in_(paths)
                )
            ).all()
        done = {SourceFile(p, size, mtime) for p, size, mtime in rows}
        return {f for f in files if f in done}

    # ----------------------------------------------------------------- writers
    # (call these only while holding the lake writer lock)

    def recover(self) -> list[str]:
        """Abort batches left pending by a killed writer and delete their files."""
        from sqlalchemy import select, update

        from recops.store.tables import LakeBatchRow

        with self.store.session() as s:
            pending = list(s.scalars(select(LakeBatchRow.batch_id).where(LakeBatchRow.state == "pending")))
        for batch_id in pending:
            for path in self.data_dir.glob(batch_file_glob(batch_id)):
                path.unlink(missing_ok=True)
            with self.store.session() as s:
                s.execute(
                    update(LakeBatchRow).where(LakeBatchRow.batch_id == batch_id).values(state="aborted")
                )
        return pending

    def begin(self, batch_id: str, kind: str, origin: str) -> None:
        from recops.store.tables import LakeBatchRow

        with self.store.session() as s:
            s.add(
                LakeBatchRow(
                    batch_id=batch_id,
                    kind=kind,
                    state="pending",
                    origin=origin,
                    started_at=_now(),
                    rows_read=0,
                    rows_stored=0,
                    rows_duplicate=0,
                    rows_quarantined=0,
                )
            )

    def commit(
        self,
        batch_id: str,
        kind: str,
        files: dict[str, list[Path]],
        sources: list[SourceFile],
        counts: BatchCounts,
        removed: list[Path] | None = None,
    ) -> None:
        """Make the batch visible: one transaction lists its files and source files.

        Args:
            batch_id: the pending batch.
            kind: the record kind the sources were ingested as.
            files: kind → written files (under ``data_dir``), already on disk and synced.
            sources: the source files this batch consumed.
            counts: what the batch did.
            removed: files this batch replaces (compaction); hidden in the same transaction.
        """
        from sqlalchemy import update

        from recops.store.tables import IngestedSourceRow, LakeBatchRow, LakeFileRow

        now = _now()
        for paths in files.values():
            for p in paths:
                _fsync(p)
        _fsync_dirs({p.parent for paths in files.values() for p in paths})
        with self.store.session() as s:
            for file_kind, paths in files.items():
                for p in paths:
                    rel = str(p.relative_to(self.data_dir))
                    s.add(
                        LakeFileRow(
                            path=rel,
                            kind=file_kind,
                            date=date_of(rel),
                            batch_id=batch_id,
                            rows=_parquet_rows(p),
                            bytes=p.stat().st_size,
                            added_at=now,
                        )
                    )
            for src in sources:
                s.add(
                    IngestedSourceRow(
                        kind=kind,
                        path=src.path,
                        size=src.size,
                        mtime_ns=src.mtime_ns,
                        batch_id=batch_id,
                        ingested_at=now,
                    )
                )
            if removed:
                rels = [str(p.relative_to(self.data_dir)) for p in removed]
                s.execute(update(LakeFileRow).where(LakeFileRow.path.in_(rels)).values(removed_at=now))
            s.execute(
                update(LakeBatchRow)
                .where(LakeBatchRow.batch_id == batch_id)
                .values(
                    state="committed",
                    committed_at=now,
                    rows_read=counts.rows_read,
                    rows_stored=counts.rows_stored,
                    rows_duplicate=counts.rows_duplicate,
                    rows_quarantined=counts.rows_quarantined,
                )
            )

    def remove(self, paths: list[Path]) -> None:
        """Hide files from readers (retention); vacuum deletes them later."""
        from sqlalchemy import update

        from recops.store.tables import LakeFileRow

        rels = [str(p.relative_to(self.data_dir)) for p in paths]
        with self.store.session() as s:
            s.execute(update(LakeFileRow).where(LakeFileRow.path.in_(rels)).values(removed_at=_now()))

    def vacuum(self, grace: timedelta) -> int:
        """Delete files hidden for longer than ``grace`` (readers may still hold older lists)."""
        from sqlalchemy import select

        from recops.store.tables import LakeFileRow

        cutoff = _now() - grace
        with self.store.session() as s:
            rows = list(
                s.scalars(
                    select(LakeFileRow).where(
                        LakeFileRow.removed_at.is_not(None), LakeFileRow.removed_at < cutoff
                    )
                )
            )
            for row in rows:
                (self.data_dir / row.path).unlink(missing_ok=True)
                s.delete(row)
        return len(rows)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dirs(dirs: set[Path]) -> None:
    for d in dirs:
        _fsync(d)
