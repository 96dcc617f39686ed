"""Lifecycle events of alerts and groups: the record every notification is made from.

Every change worth telling someone about (an alert fired, escalated, was acknowledged or
resolved; a group opened, changed, was acknowledged or resolved) is one row of
``alert_events`` holding a JSON *snapshot* of the alert or group at that moment. Routing
turns unrouted events into outbox rows, one per matching route; notifiers render the
snapshot, so a retry days later sends exactly what would have been sent at first.

Each event has an idempotency key, ``recops:{scope}:{id}:{seq}:{kind}:{uid12}``: the
alert (or group) id, the event's sequence number within it and its kind, plus the first
12 hex digits of the alert's random uid, so two workspaces posting to one receiver never
collide. It is the same on every retry and every route, so a receiver drops repeats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from recops.store.tables import AlertEventRow, AlertGroupRow, AlertRow

SEVERITIES = ("info", "ticket", "page")
STATES = ("firing", "acknowledged", "resolved")
OPEN_STATES = ("firing", "acknowledged")
SYSTEM_ACTOR = "recops"


def severity_rank(severity: str | None) -> int:
    """Position of ``severity`` in :data:`SEVERITIES` (-1 for none)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (what SQLite hands back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, or None."""
    if value is None:
        return None
    return utc(value).isoformat().replace("+00:00", "Z")


def now() -> datetime:
    return datetime.now(UTC)


def jsonable(value: Any) -> Any:
    """``value`` with times as ISO text and NaN/infinite numbers as None, for JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def loads(text: str | None) -> Any:
    return None if not text else json.loads(text)


def idempotency_key(scope: str, owner_id: int, seq: int, kind: str, uid: str) -> str:
    """The key receivers drop repeats by (see the module docstring)."""
    return f"recops:{scope}:{owner_id}:{seq}:{kind}:{uid[:12]}"


def alert_snapshot(row: AlertRow) -> dict[str, Any]:
    """The alert as notifications and ``--json`` show it."""
    return {
        "id": row.id,
        "uid": row.uid,
        "group_id": row.group_id,
        "state": row.state,
        "severity": row.severity,
        "detector": row.detector,
        "metric": row.metric,
        "subject": row.subject,
        "subject_kind": row.subject_kind,
        "slice": row.slice,
        "granularity": row.granularity,
        "summary": row.summary,
        "evidence": loads(row.evidence) or {},
        "data_time": iso(row.data_time),
        "last_data_time": iso(row.last_data_time),
        "resolved_data_time": iso(row.resolved_data_time),
        "raised_at": iso(row.raised_at),
        "updated_at": iso(row.updated_at),
        "acknowledged_at": iso(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "note": row.note,
        "silence_id": row.silence_id,
    }


MAX_MEMBERS_IN_PAYLOAD = 50


def group_snapshot(row: AlertGroupRow, members: list[AlertRow]) -> dict[str, Any]:
    """The group with a short line per member (the first 50, open ones first)."""
    ordered = sorted(members, key=lambda m: (m.state == "resolved", -severity_rank(m.severity), m.id))
    return {
        "id": row.id,
        "uid": row.uid,
        "state": row.state,
        "severity": row.severity,
        "cause": row.cause,
        "cause_keys": loads(row.cause_keys) or [],
        "first_data_time": iso(row.first_data_time),
        "last_data_time": iso(row.last_data_time),
        "raised_at": iso(row.raised_at),
        "resolved_at": iso(row.resolved_at),
        "members": len(members),
        "open_members": sum(1 for m in members if m.state in OPEN_STATES),
        "alerts": [
            {
                "id": m.id,
                "state": m.state,
                "severity": m.severity,
                "detector": m.detector,
                "metric": m.metric,
                "subject": m.subject,
                "slice": m.slice,
                "summary": m.summary,
                "data_time": iso(m.data_time),
                "silenced": m.silence_id is not None,
            }
            for m in ordered[:MAX_MEMBERS_IN_PAYLOAD]
        ],
    }


def record_alert_event(
    session: Session,
    alert: AlertRow,
    group: AlertGroupRow,
    kind: str,
    *,
    at: datetime,
    actor: str = SYSTEM_ACTOR,
    note: str | None = None,
    data_time: datetime | None = None,
) -> AlertEventRow:
    """Append an alert-scope event (``fired``, ``escalated``, ``acknowledged``, ``resolved``)."""
    session.flush()  # ids are needed for the key
    alert.seq = (alert.seq or 0) + 1
    event = AlertEventRow(
        scope="alert",
        alert_id=alert.id,
        group_id=group.id,
        kind=kind,
        seq=alert.seq,
        at=at,
        data_time=data_time,
        actor=actor,
        note=note,
        severity=alert.severity,
        silenced=alert.silence_id is not None,
        idempotency_key=idempotency_key("alert", alert.id, alert.seq, kind, alert.uid),
        payload=dumps({"alert": alert_snapshot(alert), "group": _group_header(group)}),
        routed=False,
    )
    session.add(event)
    return event


def record_group_event(
    session: Session,
    group: AlertGroupRow,
    members: list[AlertRow],
    kind: str,
    *,
    at: datetime,
    severity: str,
) -> AlertEventRow:
    """Append a group-scope event (``opened``, ``updated``, ``acknowledged``, ``resolved``).

    ``severity`` is that of the members people are told about (silenced ones left out).
    """
    session.flush()
    group.seq = (group.seq or 0) + 1
    event = AlertEventRow(
        scope="group",
        alert_id=None,
        group_id=group.id,
        kind=kind,
        seq=group.seq,
        at=at,
        data_time=group.last_data_time,
        actor=SYSTEM_ACTOR,
        note=None,
        severity=severity,
        silenced=False,
        idempotency_key=idempotency_key("group", group.id, group.seq, kind, group.uid),
        payload=dumps({"group": group_snapshot(group, members)}),
        routed=False,
    )
    session.add(event)
    return event


def _group_header(group: AlertGroupRow) -> dict[str, Any]:
    return {"id": group.id, "uid": group.uid, "cause": group.cause, "state": group.state}
