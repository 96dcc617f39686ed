"""Silences: stop routing alerts that match, until an expiry time.

A silence has four shell-style globs (``fnmatch``, case-sensitive) on the alert's
detector, metric, subject and slice; an alert matches when all four do (``*`` matches
anything, including the empty subject or slice of an unsliced series). It is active from
``starts_at`` until ``expires_at`` or until someone expires it early.

A silenced alert is stored, grouped and listed like any other, and its events are kept,
but routing sends nothing for it. Creating a silence silences the open alerts it matches
as well as later ones. When the silence ends and the alert is still open and nobody was
ever told about it, a fresh ``fired`` event goes out then (:func:`lift_ended`).

Creating and expiring silences are human decisions, so they are also appended to the
hash-chained audit log (actions ``alert.silence`` and ``alert.unsilence``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from recops.detect import audit
from recops.detect.audit import human_session
from recops.detect.events import OPEN_STATES, iso, now, record_alert_event, utc, utc_or_none
from recops.errors import InvalidInput, NotFound
from recops.store import Store
from recops.store.tables import AlertEventRow, AlertGroupRow, AlertRow, AlertSilenceRow

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1w`` or combinations such as ``1h30m``.

    Raises:
        InvalidInput: for anything else, or a zero duration.
    """
    cleaned = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise InvalidInput(f"not a duration: {text!r} (e.g. 30m, 2h, 1d, 1h30m)")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidInput(f"a duration must be positive, got {text!r}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Silence:
    """A stored silence (see the module docstring)."""

    id: int
    detector: str
    metric: str
    subject: str
    slice: str
    starts_at: datetime
    expires_at: datetime
    created_by: str
    created_at: datetime
    reason: str
    removed_at: datetime | None = None
    removed_by: str | None = None

    def active(self, at: datetime) -> bool:
        ends = self.expires_at if self.removed_at is None else min(self.expires_at, self.removed_at)
        return self.starts_at <= utc(at) < ends

    def matches(self, detector: str, metric: str, subject: str, slice: str) -> bool:
        return (
            fnmatchcase(detector, self.detector)
            and fnmatchcase(metric, self.metric)
            and fnmatchcase(subject, self.subject)
            and fnmatchcase(slice, self.slice)
        )

    def to_dict(self, at: datetime | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "detector": self.detector,
            "metric": self.metric,
            "subject": self.subject,
            "slice": self.slice,
            "starts_at": iso(self.starts_at),
            "expires_at": iso(self.expires_at),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "reason": self.reason,
            "removed_at": iso(self.removed_at),
            "removed_by": self.removed_by,
            "active": self.active(at or now()),
        }


def silence_of(row: AlertSilenceRow) -> Silence:
    return Silence(
        id=row.id,
        detector=row.detector,
        metric=row.metric,
        subject=row.subject,
        slice=row.slice,
        starts_at=utc(row.starts_at),
        expires_at=utc(row.expires_at),
        created_by=row.created_by,
        created_at=utc(row.created_at),
        reason=row.reason,
        removed_at=utc_or_none(row.removed_at),
        removed_by=row.removed_by,
    )


def active_silences(session: Session, at: datetime) -> list[Silence]:
    """Silences in force at ``at``."""
    rows = session.scalars(
        select(AlertSilenceRow).where(
            AlertSilenceRow.starts_at <= at,
            AlertSilenceRow.expires_at > at,
            or_(AlertSilenceRow.removed_at.is_(None), AlertSilenceRow.removed_at > at),
        )
    )
    return [silence_of(r) for r in rows]


def matching(silences: list[Silence], detector: str, metric: str, subject: str, slice: str) -> int | None:
    """The id of the first silence matching the alert's fields, or None."""
    for s in silences:
        if s.matches(detector, metric, subject, slice):
            return s.id
    return None


def create_silence(
    store: Store,
    *,
    metric: str,
    reason: str,
    actor: str,
    duration: timedelta | None = None,
    expires_at: datetime | None = None,
    subject: str = "*",
    slice: str = "*",
    detector: str = "*",
    starts_at: datetime | None = None,
    at: datetime | None = None,
) -> Silence:
    """Store a silence and silence the open alerts it matches.

    Args:
        metric, subject, slice, detector: globs; ``*`` matches anything.
        reason: why (required: whoever is paged next wants to know).
        actor: who.
        duration: how long from ``starts_at``; or give ``expires_at``.
        starts_at: when it takes effect (default: now).
        at: the wall-clock time of the action (default: now).

    Raises:
        InvalidInput: no reason, no or a non-positive duration, or both kinds of expiry.
    """
    when = utc(at) if at is not None else now()
    start = utc(starts_at) if starts_at is not None else when
    if not reason.strip():
        raise InvalidInput("a silence needs a reason (--reason)")
    if (duration is None) == (expires_at is None):
        raise InvalidInput("give a silence either a duration (--for) or an expiry time, not both")
    end = utc(expires_at) if expires_at is not None else start + (duration or timedelta())
    if end <= start:
        raise InvalidInput(f"a silence must expire after it starts ({iso(start)}), got {iso(end)}")
    for name, glob in (("metric", metric), ("subject", subject), ("slice", slice), ("detector", detector)):
        if len(glob) > 300:
            raise InvalidInput(f"silence {name} pattern is longer than 300 characters")
    with human_session(store) as session:
        row = AlertSilenceRow(
            detector=detector,
            metric=metric,
            subject=subject,
            slice=slice,
            starts_at=start,
            expires_at=end,
            created_by=actor,
            created_at=when,
            reason=reason,
        )
        session.add(row)
        session.flush()
        silence = silence_of(row)
        silenced: list[int] = []
        if silence.active(when):
            for alert in session.scalars(
                select(AlertRow).where(AlertRow.state.in_(OPEN_STATES), AlertRow.silence_id.is_(None))
            ):
                if silence.matches(alert.detector, alert.metric, alert.subject, alert.slice):
                    alert.silence_id = row.id
                    silenced.append(alert.id)
                    _mark_group(session, alert.group_id)
        audit.record(
            session,
            actor=actor,
            action="alert.silence",
            subject=f"silence:{row.id}",
            payload={**silence.to_dict(when), "silenced_alerts": silenced},
            at=when,
        )
        return silence


def expire_silence(store: Store, silence_id: int, *, actor: str, at: datetime | None = None) -> Silence:
    """End a silence now. The alerts it held are routed at the next :func:`lift_ended`.

    Raises:
        NotFound: no such silence.
        InvalidInput: it has already ended.
    """
    when = utc(at) if at is not None else now()
    with human_session(store) as session:
        row = session.get(AlertSilenceRow, silence_id)
        if row is None:
            raise NotFound(f"no silence {silence_id}")
        if not silence_of(row).active(when) and utc(row.starts_at) <= when:
            raise InvalidInput(f"silence {silence_id} has already ended")
        row.removed_at, row.removed_by = when, actor
        audit.record(
            session,
            actor=actor,
            action="alert.unsilence",
            subject=f"silence:{silence_id}",
            payload={"id": silence_id},
            at=when,
        )
        return silence_of(row)


def list_silences(store: Store, *, include_ended: bool = False, at: datetime | None = None) -> list[Silence]:
    """Silences, newest first: active and future ones, or all with ``include_ended``."""
    when = utc(at) if at is not None else now()
    query = select(AlertSilenceRow).order_by(AlertSilenceRow.id.desc())
    if not include_ended:
        query = query.where(
            AlertSilenceRow.expires_at > when,
            or_(AlertSilenceRow.removed_at.is_(None), AlertSilenceRow.removed_at > when),
        )
    with store.session() as session:
        return [silence_of(r) for r in session.scalars(query)]


def lift_ended(session: Session, at: datetime) -> list[AlertRow]:
    """Unsilence open alerts whose silence has ended (unless another active one matches).

    An alert nobody was told about gets a new ``fired`` event, routed like a fresh one.
    Call inside the alerts lock (routing does).

    Returns:
        The alerts no longer silenced.
    """
    active = active_silences(session, at)
    active_ids = {s.id for s in active}
    lifted: list[AlertRow] = []
    query = select(AlertRow).where(and_(AlertRow.state.in_(OPEN_STATES), AlertRow.silence_id.is_not(None)))
    for alert in session.scalars(query).all():
        if alert.silence_id in active_ids:
            continue
        alert.silence_id = matching(active, alert.detector, alert.metric, alert.subject, alert.slice)
        if alert.silence_id is not None:
            continue
        group = session.get(AlertGroupRow, alert.group_id)
        assert group is not None
        group.dirty = True
        unrouted = session.scalars(
            select(AlertEventRow.id).where(
                AlertEventRow.alert_id == alert.id, AlertEventRow.routed.is_(False)
            )
        ).first()
        if not alert.notified and unrouted is None:
            record_alert_event(
                session, alert, group, "fired", at=at, note="silence ended", data_time=alert.data_time
            )
        lifted.append(alert)
    return lifted


def _mark_group(session: Session, group_id: int) -> None:
    group = session.get(AlertGroupRow, group_id)
    if group is not None:
        group.dirty = True
