"""Registry: model versions, inputs and upstream partitions, aliases and their history,
validations, training runs, and the hash-chained audit log with its head.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("artifact_digest", sa.String(80)),
        sa.Column("code", sa.Text),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("environment", sa.Text),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("record_digest", sa.String(80), nullable=False),
        sa.UniqueConstraint("model", "version", name="uq_registry_version"),
    )
    op.create_index("ix_registry_versions_created", "registry_versions", ["model", "created_at"])
    op.create_table(
        "registry_inputs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("registry_versions.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("digest", sa.String(140)),
        sa.Column("computed", sa.Boolean, nullable=False),
        sa.Column("format", sa.String(16)),
        sa.Column("rows", sa.BigInteger),
        sa.Column("bytes", sa.BigInteger),
        sa.Column("files", sa.Integer),
        sa.Column("time_column", sa.String(200)),
        sa.Column("time_min", TS),
        sa.Column("time_max", TS),
        sa.Column("schema", sa.Text, nullable=False),
    )
    op.create_index("ix_registry_inputs_version_id", "registry_inputs", ["version_id"])
    op.create_index("ix_registry_inputs_digest", "registry_inputs", ["digest"])
    op.create_table(
        "registry_upstream",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("input_id", sa.Integer, sa.ForeignKey("registry_inputs.id"), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("partition", sa.String(64), nullable=False),
    )
    op.create_index("ix_registry_upstream_input_id", "registry_upstream", ["input_id"])
    op.create_index("ix_registry_upstream_source", "registry_upstream", ["source", "partition"])
    op.create_table(
        "registry_aliases",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("moved_at", TS, nullable=False),
    )
    op.create_table(
        "registry_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("override", sa.Boolean, nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_registry_alias_history", "registry_alias_history", ["model", "alias", "at"])
    op.create_table(
        "registry_validations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("registry_versions.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_registry_validations_version_id", "registry_validations", ["version_id"])
    op.create_table(
        "registry_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("version", sa.String(100)),
        sa.Column("error", sa.Text),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_registry_runs_model", "registry_runs", ["model"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_index("ix_audit_log_action", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_registry_runs_model", "registry_runs")
    op.drop_table("registry_runs")
    op.drop_index("ix_registry_validations_version_id", "registry_validations")
    op.drop_table("registry_validations")
    op.drop_index("ix_registry_alias_history", "registry_alias_history")
    op.drop_table("registry_alias_history")
    op.drop_table("registry_aliases")
    op.drop_index("ix_registry_upstream_source", "registry_upstream")
    op.drop_index("ix_registry_upstream_input_id", "registry_upstream")
    op.drop_table("registry_upstream")
    op.drop_index("ix_registry_inputs_digest", "registry_inputs")
    op.drop_index("ix_registry_inputs_version_id", "registry_inputs")
    op.drop_table("registry_inputs")
    op.drop_index("ix_registry_versions_created", "registry_versions")
    op.drop_table("registry_versions")
