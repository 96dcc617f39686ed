"""Lake catalog: batches, files and ingested source files.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lake_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("committed_at", TS),
        sa.Column("rows_read", sa.BigInteger, nullable=False),
        sa.Column("rows_stored", sa.BigInteger, nullable=False),
        sa.Column("rows_duplicate", sa.BigInteger, nullable=False),
        sa.Column("rows_quarantined", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "lake_files",
        sa.Column("path", sa.String(512), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("batch_id", sa.String(64), sa.ForeignKey("lake_batches.batch_id"), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("removed_at", TS),
    )
    op.create_index("ix_lake_files_kind_live", "lake_files", ["kind", "removed_at", "date"])
    op.create_table(
        "ingested_sources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("batch_id", sa.String(64), sa.ForeignKey("lake_batches.batch_id"), nullable=False),
        sa.Column("ingested_at", TS, nullable=False),
        sa.UniqueConstraint("kind", "path", "size", "mtime_ns", name="uq_ingested_source"),
    )


def downgrade() -> None:
    op.drop_table("ingested_sources")
    op.drop_index("ix_lake_files_kind_live", "lake_files")
    op.drop_table("lake_files")
    op.drop_table("lake_batches")
