"""Monitors: metric series points, monitor state and the batches already accounted for.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("metric", sa.String(100), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("slice", sa.String(300), primary_key=True),
        sa.Column("granularity", sa.String(16), primary_key=True),
        sa.Column("window_start", TS, primary_key=True),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("numerator", sa.Float),
        sa.Column("denominator", sa.Float),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("label_completeness", sa.Float),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
    )
    op.create_index("ix_metric_points_family", "metric_points", ["family"])
    op.create_index("ix_metric_points_window", "metric_points", ["granularity", "window_start"])
    op.create_table(
        "monitor_state",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "monitor_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitor_batches")
    op.drop_table("monitor_state")
    op.drop_index("ix_metric_points_window", "metric_points")
    op.drop_index("ix_metric_points_family", "metric_points")
    op.drop_table("metric_points")
