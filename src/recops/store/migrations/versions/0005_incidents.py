"""Incidents: the incidents themselves, their event log, action items and playbook runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("alert_groups.id")),
        sa.Column("cause", sa.String(400), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("detected_at", TS),
        sa.Column("mitigated_at", TS),
        sa.Column("resolved_at", TS),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("playbook", sa.String(100)),
    )
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id"])
    op.create_table(
        "incident_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("closed_by", sa.String(200)),
        sa.Column("note", sa.Text),
    )
    op.create_index("ix_incident_actions_incident_id", "incident_actions", ["incident_id"])
    op.create_index("ix_incident_actions_state", "incident_actions", ["state"])
    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("playbook", sa.String(100), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("steps", sa.Text, nullable=False),
    )
    op.create_index("ix_playbook_runs_playbook", "playbook_runs", ["playbook"])


def downgrade() -> None:
    op.drop_index("ix_playbook_runs_playbook", table_name="playbook_runs")
    op.drop_table("playbook_runs")
    op.drop_index("ix_incident_actions_state", table_name="incident_actions")
    op.drop_index("ix_incident_actions_incident_id", table_name="incident_actions")
    op.drop_table("incident_actions")
    op.drop_index("ix_incident_events_incident_id", table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index("ix_incidents_state", table_name="incidents")
    op.drop_table("incidents")
