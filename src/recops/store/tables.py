"""SQLAlchemy rows of the metadata store.

Rows are persistence only; domain objects live with the package that owns them and are
built from rows there. Changing a table means adding an Alembic migration under
``store/migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class LakeBatchRow(Base):
    """One ingest batch: the unit that is committed to the lake atomically."""

    __tablename__ = "lake_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # pending while its files are being written; committed once the catalog lists them;
    # aborted when a later writer found it pending (its process died) and removed its files.
    state: Mapped[str] = mapped_column(String(16), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # file | sdk | http | compaction
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_quarantined: Mapped[int] = mapped_column(BigInteger, default=0)


class LakeFileRow(Base):
    """A Parquet file of the lake. Readers see exactly the files listed here and not removed."""

    __tablename__ = "lake_files"

    path: Mapped[str] = mapped_column(String(512), primary_key=True)  # relative to data_dir
    kind: Mapped[str] = mapped_column(String(32))
    date: Mapped[str] = mapped_column(String(10))
    batch_id: Mapped[str] = mapped_column(ForeignKey("lake_batches.batch_id"))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set by compaction and retention; the file itself is deleted later by vacuum, so a
    # reader holding an older file list never finds a file gone under it.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_lake_files_kind_live", "kind", "removed_at", "date"),)


class IngestedSourceRow(Base):
    """A source file whose records are committed; unchanged, it is skipped without reading."""

    __tablename__ = "ingested_sources"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[str] = mapped_column(ForeignKey("lake_batches.batch_id"))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("kind", "path", "size", "mtime_ns", name="uq_ingested_source"),)
