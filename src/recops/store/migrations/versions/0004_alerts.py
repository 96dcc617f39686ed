"""Alerts: groups, silences, alerts, their lifecycle events, the notification outbox and
its delivery log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("cause", sa.String(400), nullable=False),
        sa.Column("cause_keys", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("first_data_time", TS, nullable=False),
        sa.Column("last_data_time", TS, nullable=False),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.Column("notified_state", sa.String(16)),
        sa.Column("notified_severity", sa.String(8)),
        sa.Column("notified_members", sa.Integer, nullable=False),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.UniqueConstraint("uid", name="uq_alert_groups_uid"),
    )
    op.create_index("ix_alert_groups_state", "alert_groups", ["state"])
    op.create_index("ix_alert_groups_dirty", "alert_groups", ["dirty"])
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("detector", sa.String(300), nullable=False),
        sa.Column("metric", sa.String(300), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("slice", sa.String(300), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("removed_at", TS),
        sa.Column("removed_by", sa.String(200)),
    )
    op.create_index("ix_alert_silences_expires_at", "alert_silences", ["expires_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("alert_groups.id"), nullable=False),
        sa.Column("detector", sa.String(100), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("slice", sa.String(300), nullable=False),
        sa.Column("granularity", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("data_time", TS, nullable=False),
        sa.Column("last_data_time", TS, nullable=False),
        sa.Column("resolved_data_time", TS),
        sa.Column("raised_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("acknowledged_by", sa.String(200)),
        sa.Column("resolved_at", TS),
        sa.Column("resolved_by", sa.String(200)),
        sa.Column("note", sa.Text),
        sa.Column("silence_id", sa.Integer, sa.ForeignKey("alert_silences.id")),
        sa.Column("notified", sa.Boolean, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.UniqueConstraint("uid", name="uq_alerts_uid"),
    )
    op.create_index("ix_alerts_group_id", "alerts", ["group_id"])
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_index("ix_alerts_key_state", "alerts", ["key", "state"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id")),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("alert_groups.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("data_time", TS),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("silenced", sa.Boolean, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("routed", sa.Boolean, nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_alert_events_idempotency_key"),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])
    op.create_index("ix_alert_events_group_id", "alert_events", ["group_id"])
    op.create_index("ix_alert_events_routed", "alert_events", ["routed"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("alert_events.id"), nullable=False),
        sa.Column("route", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.UniqueConstraint("event_id", "route", name="uq_alert_outbox_event_route"),
    )
    op.create_index("ix_alert_outbox_route_state", "alert_outbox", ["route", "state", "id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("alert_outbox.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_alert_deliveries_outbox_id", "alert_deliveries", ["outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_outbox_id", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_outbox_route_state", "alert_outbox")
    op.drop_table("alert_outbox")
    for name in ("routed", "group_id", "alert_id"):
        op.drop_index(f"ix_alert_events_{name}", "alert_events")
    op.drop_table("alert_events")
    for name in ("key_state", "state", "group_id"):
        op.drop_index(f"ix_alerts_{name}", "alerts")
    op.drop_table("alerts")
    op.drop_index("ix_alert_silences_expires_at", "alert_silences")
    op.drop_table("alert_silences")
    op.drop_index("ix_alert_groups_dirty", "alert_groups")
    op.drop_index("ix_alert_groups_state", "alert_groups")
    op.drop_table("alert_groups")
