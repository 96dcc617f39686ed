"""Incidents: opened from an alert group or by hand, open → mitigated → resolved.

Times come in two kinds. ``started_at``, ``detected_at``, ``mitigated_at`` and
``resolved_at`` are *data* times (when it happened in the recommender's world, which a
replayed or simulated world dates in the past); ``opened_at`` and each event's
``recorded_at`` are wall-clock times. When an incident is opened from a group:

* ``detected_at`` is the earliest data time of the group's alerts;
* ``started_at`` is the change that set it off when the lake has one (for a cause
  ``model_version:V`` the first ``canary``/``deploy`` change of V; for a feature group,
  source or service the latest change targeting it in the day before detection), else
  the detection time less the first alert's window.

``mitigate`` without a time takes the first rollback of the implicated version (an
alias move away from it, from the registry history) after the start, else now. Every
transition is an incident event, so the timeline shows who did what when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from recops.detect.alerts import get_group, list_alerts
from recops.errors import InvalidInput, NotFound
from recops.lake import Lake
from recops.registry._canonical import iso, now, utc
from recops.registry.aliases import alias_history
from recops.registry.audit import append, registry_session
from recops.registry.versions import default_actor
from recops.store import Store
from recops.store.tables import IncidentActionRow, IncidentEventRow, IncidentRow

STATES = ("open", "mitigated", "resolved")
GRANULARITY = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Incident:
    """A stored incident."""

    id: int
    title: str
    state: str
    severity: str
    group_id: int | None
    cause: str
    model: str | None
    started_at: datetime
    detected_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    opened_at: datetime
    opened_by: str
    playbook: str | None

    @property
    def version(self) -> str | None:
        """The implicated model version, when the cause is one."""
        return self.cause.split(":", 1)[1] if self.cause.startswith("model_version:") else None

    @property
    def end(self) -> datetime | None:
        return self.resolved_at

    def time_to_detect(self) -> timedelta | None:
        return self.detected_at - self.started_at if self.detected_at else None

    def time_to_mitigate(self) -> timedelta | None:
        if self.mitigated_at is None or self.detected_at is None:
            return None
        return self.mitigated_at - self.detected_at

    def to_dict(self) -> dict[str, Any]:
        ttd, ttm = self.time_to_detect(), self.time_to_mitigate()
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "severity": self.severity,
            "group_id": self.group_id,
            "cause": self.cause,
            "model": self.model,
            "version": self.version,
            "started_at": iso(self.started_at),
            "detected_at": iso(self.detected_at),
            "mitigated_at": iso(self.mitigated_at),
            "resolved_at": iso(self.resolved_at),
            "opened_at": iso(self.opened_at),
            "opened_by": self.opened_by,
            "playbook": self.playbook,
            "time_to_detect_s": ttd.total_seconds() if ttd is not None else None,
            "time_to_mitigate_s": ttm.total_seconds() if ttm is not None else None,
        }


@dataclass(frozen=True)
class Action:
    """A post-mortem action item."""

    id: int
    incident_id: int
    title: str
    owner: str
    state: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "title": self.title,
            "owner": self.owner,
            "state": self.state,
            "created_at": iso(self.created_at),
            "closed_at": iso(self.closed_at),
            "closed_by": self.closed_by,
        }


def _opt(t: datetime | None) -> datetime | None:
    return utc(t) if t is not None else None


def incident_of(row: IncidentRow) -> Incident:
    return Incident(
        row.id, row.title, row.state, row.severity, row.group_id, row.cause, row.model,
        utc(row.started_at), _opt(row.detected_at), _opt(row.mitigated_at), _opt(row.resolved_at),
        utc(row.opened_at), row.opened_by, row.playbook,
    )  # fmt: skip


def action_of(row: IncidentActionRow) -> Action:
    return Action(
        row.id, row.incident_id, row.title, row.owner, row.state, utc(row.created_at),
        _opt(row.closed_at), row.closed_by,
    )  # fmt: skip


def _changes(lake: Lake, where: str, params: list[Any]) -> list[tuple[datetime, str, str, str | None]]:
    con = lake.connect()
    try:
        rows = con.execute(
            f"SELECT epoch_us(ts), kind, target, version FROM changes WHERE {where} ORDER BY ts", params
        ).fetchall()
    finally:
        con.close()
    return [(_from_us(r[0]), str(r[1]), str(r[2]), r[3]) for r in rows]


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=utc(now()).tzinfo)


def infer_start(
    lake: Lake, cause: str, detected: datetime, fallback: timedelta
) -> tuple[datetime, str | None]:
    """When the incident began (see the module docstring) and the model it concerns, if any."""
    kind, _, name = cause.partition(":")
    if kind == "model_version" and name:
        rows = _changes(lake, "version = ? AND kind IN ('canary', 'deploy') AND ts <= ?", [name, detected])
        if rows:
            return rows[0][0], rows[0][2]
    elif kind in ("feature_group", "source", "stage") and name:
        rows = _changes(lake, "target = ? AND ts <= ? AND ts >= ?", [name, detected, detected - LOOKBACK])
        if rows:
            return rows[-1][0], None
    return detected - fallback, None


def _event(
    session: Any,
    incident_id: int,
    kind: str,
    at: datetime,
    actor: str,
    note: str | None,
    payload: dict[str, Any],
) -> None:
    session.add(
        IncidentEventRow(
            incident_id=incident_id, kind=kind, at=at, recorded_at=now(), actor=actor, note=note,
            payload=json.dumps(payload, sort_keys=True, default=str),
        )
    )  # fmt: skip


def open_incident(
    store: Store,
    lake: Lake,
    *,
    group_id: int | None = None,
    title: str | None = None,
    cause: str | None = None,
    model: str | None = None,
    started_at: datetime | None = None,
    detected_at: datetime | None = None,
    severity: str = "page",
    playbook: str | None = None,
    actor: str | None = None,
) -> Incident:
    """Open an incident from alert group ``group_id``, or by hand (title and start time).

    Raises:
        NotFound: no such group.
        InvalidInput: neither a group nor a title and start given, or detection before the start.
    """
    who = actor or default_actor()
    detected: datetime | None
    if group_id is not None:
        group = get_group(store, group_id)
        alerts = sorted(list_alerts(store, group_id=group_id), key=lambda a: (a.data_time, a.id))
        first = alerts[0]
        cause = cause or group.cause
        detected = utc(detected_at) if detected_at else min(utc(a.data_time) for a in alerts)
        start, found_model = infer_start(
            lake, cause, detected, GRANULARITY.get(first.granularity, timedelta(hours=1))
        )
        started = utc(started_at) if started_at else start
        model = model or found_model
        title = title or first.summary or cause
        severity = group.severity
    else:
        if not title or (started_at is None and detected_at is None):
            raise InvalidInput("an incident opened by hand needs a title and a start or detection time")
        cause = cause or ""
        detected = utc(detected_at) if detected_at else None
        if started_at is not None:
            started = utc(started_at)
        else:
            assert detected is not None
            started, found_model = infer_start(lake, cause, detected, timedelta(hours=1))
            model = model or found_model
    if detected is not None and detected < started:
        raise InvalidInput(
            f"detected at {detected.isoformat()} is before the start {started.isoformat()}:"
            " trouble is detected after it starts"
        )
    with registry_session(store) as session:
        row = IncidentRow(
            title=title, state="open", severity=severity, group_id=group_id, cause=cause, model=model,
            started_at=started, detected_at=detected, opened_at=now(), opened_by=who, playbook=playbook,
        )  # fmt: skip
        session.add(row)
        session.flush()
        _event(
            session, row.id, "opened", detected or started, who, None, {"group_id": group_id, "cause": cause}
        )
        facts = {"group_id": group_id, "cause": cause, "title": title, "severity": severity}
        append(session, actor=who, action="incident.open", subject=f"incident:{row.id}", payload=facts)
        session.flush()
        return incident_of(row)


def get_incident(store: Store, incident_id: int) -> Incident:
    with store.session() as session:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        return incident_of(row)


def list_incidents(store: Store, *, state: str | None = None) -> list[Incident]:
    """Incidents, newest first; ``state`` one of :data:`STATES` or ``active`` (not resolved)."""
    query = select(IncidentRow).order_by(IncidentRow.id.desc())
    if state == "active":
        query = query.where(IncidentRow.state != "resolved")
    elif state is not None:
        if state not in STATES:
            raise InvalidInput(f"incident state must be one of active, {', '.join(STATES)}; got {state!r}")
        query = query.where(IncidentRow.state == state)
    with store.session() as session:
        return [incident_of(r) for r in session.scalars(query)]


def first_move_away(store: Store, model: str, version: str, after: datetime) -> datetime | None:
    """When an alias of ``model`` first stopped naming ``version`` after ``after``."""
    naming: dict[str, str | None] = {}
    for e in alias_history(store, model):
        was = naming.get(e.alias)
        naming[e.alias] = e.version
        if was == version and e.version != version and e.at >= after:
            return e.at
    return None


def _transition(
    store: Store, incident_id: int, to: str, at: datetime, actor: str | None, note: str | None
) -> Incident:
    who = actor or default_actor()
    with registry_session(store) as session:
        row = session.get(IncidentRow, incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        allowed = {"mitigated": ("open",), "resolved": ("open", "mitigated")}[to]
        if row.state not in allowed:
            raise InvalidInput(f"incident {incident_id} is {row.state}; cannot mark it {to}")
        if utc(at) < utc(row.started_at):
            raise InvalidInput(
                f"incident {incident_id} cannot be {to} before it started ({iso(row.started_at)})"
            )
        if to == "mitigated":
            row.mitigated_at = at
        else:
            row.resolved_at = at
            if row.mitigated_at is None:
                row.mitigated_at = at
        row.state = to
        _event(session, incident_id, to, at, who, note, {})
        verb = {"mitigated": "mitigate", "resolved": "resolve"}[to]
        facts = {"at": iso(at), "note": note}
        subject = f"incident:{incident_id}"
        append(session, actor=who, action=f"incident.{verb}", subject=subject, payload=facts)
        session.flush()
        return incident_of(row)


def mitigate(
    store: Store,
    incident_id: int,
    *,
    at: datetime | None = None,
    actor: str | None = None,
    note: str | None = None,
) -> Incident:
    """Mark mitigated at ``at`` (default: the implicated version's rollback, else now)."""
    inc = get_incident(store, incident_id)
    when = utc(at) if at is not None else None
    if when is None and inc.model and inc.version:
        when = first_move_away(store, inc.model, inc.version, inc.started_at)
    if when is None:
        when = group_cleared(store, inc)
    return _transition(store, incident_id, "mitigated", when or now(), actor, note)


def resolve(
    store: Store,
    incident_id: int,
    *,
    at: datetime | None = None,
    actor: str | None = None,
    note: str | None = None,
) -> Incident:
    """Mark resolved at ``at`` (default: when the group's alerts all cleared, else now)."""
    when = utc(at) if at is not None else group_cleared(store, get_incident(store, incident_id))
    return _transition(store, incident_id, "resolved", when or now(), actor, note)


def group_cleared(store: Store, inc: Incident) -> datetime | None:
    """The data time the incident's alert group cleared, None while any alert is open.

    An alert resolves at the end of its first healthy window, so the harm ended one
    window earlier. The all-traffic alerts decide when the group has some (thin slices
    clear later only because their windows are noisier); else all of its alerts.
    """
    if inc.group_id is None:
        return None
    alerts = list_alerts(store, group_id=inc.group_id)
    if not alerts or any(a.open for a in alerts):
        return None
    broad = [a for a in alerts if not a.slice] or alerts
    return max(
        utc(a.resolved_data_time or a.last_data_time) - GRANULARITY.get(a.granularity, timedelta(0))
        for a in broad
    )


def events(store: Store, incident_id: int) -> list[dict[str, Any]]:
    """The incident's own event log, in time order."""
    query = select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
    with store.session() as session:
        rows = session.scalars(query.order_by(IncidentEventRow.at, IncidentEventRow.id)).all()
        return [
            {
                "kind": r.kind,
                "at": utc(r.at),
                "actor": r.actor,
                "note": r.note,
                "payload": json.loads(r.payload),
            }
            for r in rows
        ]


def add_action(store: Store, incident_id: int, title: str, owner: str, *, actor: str | None = None) -> Action:
    """Add an action item with an owner."""
    if not title.strip() or not owner.strip():
        raise InvalidInput("an action item needs a title and an owner")
    get_incident(store, incident_id)
    who = actor or default_actor()
    with registry_session(store) as session:
        row = IncidentActionRow(
            incident_id=incident_id, title=title, owner=owner, state="open", created_at=now(), created_by=who,
        )  # fmt: skip
        session.add(row)
        session.flush()
        facts = {"action_id": row.id, "title": title, "owner": owner}
        subject = f"incident:{incident_id}"
        append(session, actor=who, action="incident.action.add", subject=subject, payload=facts)
        return action_of(row)


def add_note(
    store: Store, incident_id: int, note: str, *, actor: str | None = None, at: datetime | None = None
) -> None:
    """Add a note to the incident's log (it appears in the timeline and the post-mortem); audited.

    Raises:
        NotFound: no such incident.
        InvalidInput: an empty note.
    """
    if not note.strip():
        raise InvalidInput("a note needs some text")
    who, when = actor or default_actor(), utc(at) if at is not None else now()
    with registry_session(store) as session:
        if session.get(IncidentRow, incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
        _event(session, incident_id, "note", when, who, note.strip(), {})
        append(
            session, actor=who, action="incident.note", subject=f"incident:{incident_id}",
            payload={"note": note.strip(), "at": iso(when)},
        )  # fmt: skip


def close_action(
    store: Store, action_id: int, *, actor: str | None = None, note: str | None = None
) -> Action:
    """Close an action item."""
    who = actor or default_actor()
    with registry_session(store) as session:
        row = session.get(IncidentActionRow, action_id)
        if row is None:
            raise NotFound(f"no action item {action_id}")
        if row.state == "closed":
            raise InvalidInput(f"action item {action_id} is already closed")
        row.state, row.closed_at, row.closed_by, row.note = "closed", now(), who, note
        append(
            session, actor=who, action="incident.action.close", subject=f"incident:{row.incident_id}",
            payload={"action_id": action_id, "note": note},
        )  # fmt: skip
        session.flush()
        return action_of(row)


def actions(store: Store, *, incident_id: int | None = None, state: str | None = None) -> list[Action]:
    """Action items, oldest first."""
    query = select(IncidentActionRow).order_by(IncidentActionRow.id)
    if incident_id is not None:
        query = query.where(IncidentActionRow.incident_id == incident_id)
    if state is not None:
        query = query.where(IncidentActionRow.state == state)
    with store.session() as session:
        return [action_of(r) for r in session.scalars(query)]
