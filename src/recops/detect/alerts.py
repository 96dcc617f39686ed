"""The alert lifecycle: firing → acknowledged → resolved, one open alert per condition.

Detectors report what they see as :class:`AlertSignal` values. :func:`raise_or_update`
(one signal) and :func:`record_signals` (a detection pass, one transaction) turn them
into alerts: the first signal for a *dedup key* (detector, metric, subject, slice and
granularity, unless the detector gives its own key) opens an alert; later signals for the
same key update that open alert (latest evidence, the data-time span, a raised severity)
instead of opening another. :func:`resolve_stale` resolves the open alerts whose condition
no longer holds at the end of a pass; people acknowledge and resolve with
:func:`acknowledge` and :func:`resolve`.

Two clocks are kept apart. ``data_time`` is the end of the first window whose data
tripped the detector (the earliest, if a backfill reports windows out of order) and
``last_data_time`` the newest; ``raised_at`` is the wall-clock time recops raised it. A
backfill or a simulated world measures time to detect as ``data_time`` minus the moment
the trouble started in the data, not as when the command happened to run.

Severity (``page``, ``ticket``, ``info``) only goes up while an alert is open: a paging
condition that eases to a ticket one keeps paging until it clears. Every change is an
event (:mod:`recops.detect.events`) that routing turns into notifications;
acknowledgements and manual resolutions are also appended to the hash-chained audit
log (actions ``alert.acknowledge`` and ``alert.resolve``), since they are decisions
people answer for.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recops.detect import audit
from recops.detect.audit import ALERTS_LOCK, human_session
from recops.detect.events import (
    OPEN_STATES,
    SEVERITIES,
    STATES,
    SYSTEM_ACTOR,
    alert_snapshot,
    dumps,
    group_snapshot,
    iso,
    loads,
    now,
    record_alert_event,
    severity_rank,
    utc,
    utc_or_none,
)
from recops.detect.grouping import (
    GroupingRules,
    assign_group,
    cause_keys,
    extend_span,
    members_of,
    refresh_group,
    subject_kind_name,
)
from recops.detect.silences import Silence, active_silences, matching
from recops.errors import Conflict, InvalidInput, NotFound
from recops.store import Store
from recops.store.tables import AlertEventRow, AlertGroupRow, AlertRow


@dataclass(frozen=True)
class AlertSignal:
    """What a detector reports about one series at one evaluation.

    Attributes:
        detector: the detector's name (``threshold``, ``burn_rate``, ``cusum``...).
        metric: the metric catalog name.
        severity: ``page``, ``ticket`` or ``info``.
        data_time: the end of the window whose data tripped the detector.
        subject: the series' subject (a feature, source, stage...; ``""`` for none).
        slice: ``""`` for all traffic, else ``key=value``.
        granularity: the series' window size (``5min``, ``hour``, ``day``).
        subject_kind: what the subject is (the catalog's ``subject``: ``feature``,
            ``feature group``, ``source``, ``stage``, ``check``...), used for grouping.
        summary: one sentence for people ("ctr fell 14% below its baseline in surface=home").
        evidence: the numbers behind it: values, baseline, thresholds, statistics.
        key: the dedup key; default derived from detector, metric, subject, slice and
            granularity. Signals with one key update one open alert.
    """

    detector: str
    metric: str
    severity: str
    data_time: datetime
    subject: str = ""
    slice: str = ""
    granularity: str = ""
    subject_kind: str = ""
    summary: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""

    def dedup_key(self) -> str:
        """The stored key: :attr:`key` if given, else a digest of the series' identity."""
        text = self.key or "\x1f".join(
            (self.detector, self.metric, self.subject, self.slice, self.granularity)
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]

    def check(self) -> None:
        """Raises InvalidInput for an unknown severity or a missing detector or metric."""
        if self.severity not in SEVERITIES:
            raise InvalidInput(
                f"alert severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )
        if not self.detector or not self.metric:
            raise InvalidInput("an alert signal needs a detector and a metric")


@dataclass(frozen=True)
class Alert:
    """A stored alert (fields as in :func:`recops.detect.events.alert_snapshot`)."""

    id: int
    uid: str
    key: str
    group_id: int
    state: str
    severity: str
    detector: str
    metric: str
    subject: str
    subject_kind: str
    slice: str
    granularity: str
    summary: str
    evidence: dict[str, Any]
    data_time: datetime
    last_data_time: datetime
    raised_at: datetime
    updated_at: datetime
    resolved_data_time: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None
    silence_id: int | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def silenced(self) -> bool:
        return self.silence_id is not None

    @property
    def model_version(self) -> str | None:
        """The model version the alert is about, when its slice is one."""
        return self.slice.split("=", 1)[1] if self.slice.startswith("model_version=") else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "key": self.key,
            "group_id": self.group_id,
            "state": self.state,
            "severity": self.severity,
            "detector": self.detector,
            "metric": self.metric,
            "subject": self.subject,
            "subject_kind": self.subject_kind,
            "slice": self.slice,
            "model_version": self.model_version,
            "granularity": self.granularity,
            "summary": self.summary,
            "evidence": self.evidence,
            "data_time": iso(self.data_time),
            "last_data_time": iso(self.last_data_time),
            "resolved_data_time": iso(self.resolved_data_time),
            "raised_at": iso(self.raised_at),
            "updated_at": iso(self.updated_at),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "note": self.note,
            "silence_id": self.silence_id,
            "silenced": self.silenced,
        }


@dataclass(frozen=True)
class AlertGroup:
    """A stored group with its members' ids (see :mod:`recops.detect.grouping`)."""

    id: int
    uid: str
    state: str
    severity: str
    cause: str
    cause_keys: tuple[str, ...]
    first_data_time: datetime
    last_data_time: datetime
    raised_at: datetime
    resolved_at: datetime | None
    members: tuple[int, ...]
    open_members: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "state": self.state,
            "severity": self.severity,
            "cause": self.cause,
            "cause_keys": list(self.cause_keys),
            "first_data_time": iso(self.first_data_time),
            "last_data_time": iso(self.last_data_time),
            "raised_at": iso(self.raised_at),
            "resolved_at": iso(self.resolved_at),
            "members": list(self.members),
            "open_members": list(self.open_members),
        }


@dataclass(frozen=True)
class AlertEvent:
    """One lifecycle event (see :mod:`recops.detect.events`)."""

    id: int
    scope: str
    alert_id: int | None
    group_id: int
    kind: str
    seq: int
    at: datetime
    data_time: datetime | None
    actor: str
    note: str | None
    severity: str
    silenced: bool
    idempotency_key: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "alert_id": self.alert_id,
            "group_id": self.group_id,
            "kind": self.kind,
            "seq": self.seq,
            "at": iso(self.at),
            "data_time": iso(self.data_time),
            "actor": self.actor,
            "note": self.note,
            "severity": self.severity,
            "silenced": self.silenced,
            "idempotency_key": self.idempotency_key,
        }


def alert_of(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        uid=row.uid,
        key=row.key,
        group_id=row.group_id,
        state=row.state,
        severity=row.severity,
        detector=row.detector,
        metric=row.metric,
        subject=row.subject,
        subject_kind=row.subject_kind,
        slice=row.slice,
        granularity=row.granularity,
        summary=row.summary,
        evidence=loads(row.evidence) or {},
        data_time=utc(row.data_time),
        last_data_time=utc(row.last_data_time),
        raised_at=utc(row.raised_at),
        updated_at=utc(row.updated_at),
        resolved_data_time=utc_or_none(row.resolved_data_time),
        acknowledged_at=utc_or_none(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
        resolved_at=utc_or_none(row.resolved_at),
        resolved_by=row.resolved_by,
        note=row.note,
        silence_id=row.silence_id,
    )


def group_of(row: AlertGroupRow, members: list[AlertRow]) -> AlertGroup:
    return AlertGroup(
        id=row.id,
        uid=row.uid,
        state=row.state,
        severity=row.severity,
        cause=row.cause,
        cause_keys=tuple(loads(row.cause_keys) or ()),
        first_data_time=utc(row.first_data_time),
        last_data_time=utc(row.last_data_time),
        raised_at=utc(row.raised_at),
        resolved_at=utc_or_none(row.resolved_at),
        members=tuple(m.id for m in members),
        open_members=tuple(m.id for m in members if m.state in OPEN_STATES),
    )


def event_of(row: AlertEventRow) -> AlertEvent:
    return AlertEvent(
        id=row.id,
        scope=row.scope,
        alert_id=row.alert_id,
        group_id=row.group_id,
        kind=row.kind,
        seq=row.seq,
        at=utc(row.at),
        data_time=utc_or_none(row.data_time),
        actor=row.actor,
        note=row.note,
        severity=row.severity,
        silenced=row.silenced,
        idempotency_key=row.idempotency_key,
    )


# --- raising and updating ----------------------------------------------------------------------


def raise_or_update(
    store: Store,
    signal: AlertSignal,
    *,
    rules: GroupingRules | None = None,
    at: datetime | None = None,
) -> Alert:
    """Open an alert for ``signal``, or update the open one with its dedup key.

    Args:
        rules: how to group (default: :class:`GroupingRules` with no feature map).
        at: the wall-clock time (default: now; a simulation may pass its own).

    Returns:
        The alert as stored.
    """
    return record_signals(store, [signal], rules=rules, at=at)[0]


def record_signals(
    store: Store,
    signals: Iterable[AlertSignal],
    *,
    rules: GroupingRules | None = None,
    at: datetime | None = None,
) -> list[Alert]:
    """:func:`raise_or_update` for every signal of a detection pass, in one transaction.

    Groups are recomputed once per pass and the events recorded after that, so a pass
    over a thousand series costs a query or two per new alert, not per group member.
    """
    when = utc(at) if at is not None else now()
    items = list(signals)
    for signal in items:
        signal.check()
    with store.lock(ALERTS_LOCK), store.session() as session:
        batch = _Batch(session, rules or GroupingRules(), when)
        rows = [batch.apply(s) for s in items]
        batch.finish()
        return [alert_of(r) for r in rows]


@dataclass(frozen=True)
class Clear:
    """A condition that cleared: resolve the open alert with ``key`` at ``data_time``."""

    key: str
    data_time: datetime


def record_timeline(
    store: Store,
    steps: Iterable[AlertSignal | Clear],
    *,
    rules: GroupingRules | None = None,
    at: datetime | None = None,
) -> tuple[list[Alert], list[Alert]]:
    """Apply a pass's signals and clears in the order given, in one transaction.

    A detection pass over a backfill sees conditions start and clear inside the range it
    judges: a signal opens (or updates) the alert of its key, a :class:`Clear` resolves
    it with ``resolved_data_time`` set, and a later signal for the same key opens a new
    alert. Give the steps in data-time order. A clear for a key with no open alert is
    ignored.

    Judging a range again (``monitor run --from/--to``) changes nothing already recorded:
    a signal inside an episode that is already resolved (from its ``data_time`` up to its
    ``resolved_data_time``) belongs to that alert and leaves it as it is, and a clear no
    newer than the open alert's newest evidence does not resolve it.

    Returns:
        The alerts signalled (opened or updated) and the alerts resolved.
    """
    when = utc(at) if at is not None else now()
    items = list(steps)
    for step in items:
        if isinstance(step, AlertSignal):
            step.check()
    with store.lock(ALERTS_LOCK), store.session() as session:
        batch = _Batch(session, rules or GroupingRules(), when)
        signalled: dict[int, AlertRow] = {}
        resolved: list[AlertRow] = []
        for step in items:
            if isinstance(step, AlertSignal):
                row = batch.apply(step)
                signalled[id(row)] = row
                continue
            cleared = utc(step.data_time)
            open_row = batch.open_by_key.get(step.key)
            if open_row is not None and cleared > utc(open_row.last_data_time):
                del batch.open_by_key[step.key]
                batch.close(open_row, actor=SYSTEM_ACTOR, note="condition cleared", data_time=cleared)
                resolved.append(open_row)
        batch.finish()
        return [alert_of(r) for r in signalled.values() if r.id not in batch.replayed], [
            alert_of(r) for r in resolved
        ]


class _Batch:
    """One detection pass inside one session: open alerts by key, open groups, touched groups."""

    def __init__(
        self, session: Session, rules: GroupingRules, at: datetime, *, prefetch: bool = True
    ) -> None:
        self.session, self.rules, self.at = session, rules, at
        self.silences: list[Silence] = active_silences(session, at) if prefetch else []
        self.open_by_key: dict[str, AlertRow] = {}
        self.open_groups: list[AlertGroupRow] = []
        if prefetch:
            query = select(AlertRow).where(AlertRow.state.in_(OPEN_STATES)).order_by(AlertRow.id)
            self.open_by_key = {r.key: r for r in session.scalars(query)}
            groups = select(AlertGroupRow).where(AlertGroupRow.state.in_(OPEN_STATES))
            self.open_groups = list(session.scalars(groups))
        self.touched: dict[int, AlertGroupRow] = {}
        self.events: list[_Pending] = []
        self.resolved_by_key: dict[str, list[AlertRow]] = {}
        #: Ids of resolved alerts that a signal of this pass fell inside (a range judged again).
        self.replayed: set[int] = set()

    def _resolved_episode(self, key: str, data_time: datetime) -> AlertRow | None:
        """The resolved alert of ``key`` whose episode holds ``data_time``, if any."""
        rows = self.resolved_by_key.get(key)
        if rows is None:
            query = select(AlertRow).where(AlertRow.key == key, AlertRow.state == "resolved")
            rows = self.resolved_by_key[key] = list(self.session.scalars(query))
        for row in rows:
            end = row.resolved_data_time
            start = utc(row.data_time)
            if start <= data_time and (
                data_time < utc(end) if end is not None else data_time <= utc(row.last_data_time)
            ):
                return row
        return None

    def apply(self, signal: AlertSignal) -> AlertRow:
        key = signal.dedup_key()
        data_time = utc(signal.data_time)
        row = self.open_by_key.get(key)
        if row is None or data_time < utc(row.data_time):
            recorded = self._resolved_episode(key, data_time)
            if recorded is not None:
                self.replayed.add(recorded.id)
                return recorded
        evidence = dumps(signal.evidence)
        if row is None:
            row = self._new(signal, key, data_time, evidence)
            self.events.append(_Pending(row, "fired", data_time))
            return row
        row.evidence = evidence
        row.summary = signal.summary or row.summary
        row.data_time = min(utc(row.data_time), data_time)
        row.last_data_time = max(utc(row.last_data_time), data_time)
        row.updated_at = self.at
        group = self._group(row.group_id)
        extend_span(group, data_time)
        if severity_rank(signal.severity) > severity_rank(row.severity):
            row.severity = signal.severity
            self.events.append(_Pending(row, "escalated", data_time))
        return row

    def _new(self, signal: AlertSignal, key: str, data_time: datetime, evidence: str) -> AlertRow:
        row = AlertRow(
            uid=uuid.uuid4().hex,
            key=key,
            detector=signal.detector,
            metric=signal.metric,
            subject=signal.subject,
            subject_kind=subject_kind_name(signal.subject_kind),
            slice=signal.slice,
            granularity=signal.granularity,
            severity=signal.severity,
            state="firing",
            summary=signal.summary or _default_summary(signal),
            evidence=evidence,
            data_time=data_time,
            last_data_time=data_time,
            raised_at=self.at,
            updated_at=self.at,
            silence_id=matching(self.silences, signal.detector, signal.metric, signal.subject, signal.slice),
            notified=False,
            seq=0,
        )
        keys = cause_keys(
            self.rules, metric=row.metric, subject=row.subject, subject_kind=row.subject_kind, slice=row.slice
        )
        group = assign_group(self.session, row, keys, self.rules, self.at, candidates=self.open_groups)
        if group not in self.open_groups:
            self.open_groups.append(group)
        self.touched[group.id] = group
        self.session.add(row)
        self.open_by_key[key] = row
        return row

    def _group(self, group_id: int) -> AlertGroupRow:
        group = self.touched.get(group_id) or self.session.get(AlertGroupRow, group_id)
        assert group is not None
        self.touched[group_id] = group
        return group

    def close(self, row: AlertRow, *, actor: str, note: str | None, data_time: datetime | None) -> None:
        if row.key in self.resolved_by_key:
            self.resolved_by_key[row.key].append(row)
        row.state = "resolved"
        row.resolved_at, row.resolved_by = self.at, actor
        row.resolved_data_time = data_time
        row.updated_at = self.at
        if note:
            row.note = note
        self._group(row.group_id)
        self.events.append(_Pending(row, "resolved", data_time, actor, note))

    def acknowledge(self, row: AlertRow, *, actor: str, note: str | None) -> None:
        row.state = "acknowledged"
        row.acknowledged_at, row.acknowledged_by = self.at, actor
        row.updated_at = self.at
        if note:
            row.note = note
        self._group(row.group_id)
        self.events.append(_Pending(row, "acknowledged", None, actor, note))

    def finish(self) -> None:
        """Recompute the touched groups, then record the pass's events in order."""
        self.session.flush()
        for group in self.touched.values():
            refresh_group(self.session, group, self.at)
        for e in self.events:
            record_alert_event(
                self.session,
                e.row,
                self.touched[e.row.group_id],
                e.kind,
                at=self.at,
                actor=e.actor,
                note=e.note,
                data_time=e.data_time,
            )
        self.session.flush()


@dataclass(frozen=True)
class _Pending:
    """An event to record once the pass's groups are current."""

    row: AlertRow
    kind: str
    data_time: datetime | None
    actor: str = SYSTEM_ACTOR
    note: str | None = None


def _default_summary(signal: AlertSignal) -> str:
    where = " ".join(p for p in (signal.subject, f"[{signal.slice}]" if signal.slice else "") if p)
    return f"{signal.detector}: {signal.metric}{' ' + where if where else ''}"


def resolve_stale(
    store: Store,
    active_keys: Iterable[str],
    data_time: datetime,
    *,
    detectors: Iterable[str] | None = None,
    metrics: Iterable[str] | None = None,
    at: datetime | None = None,
) -> list[Alert]:
    """Resolve open alerts whose condition has cleared by ``data_time``.

    A detection pass calls this with the dedup keys (:meth:`AlertSignal.dedup_key`) of
    every signal it still raised. Alerts in its scope (``detectors`` and ``metrics``,
    each None for all) whose key is not among them and whose newest tripping window ends
    no later than ``data_time`` are resolved by ``recops`` with ``resolved_data_time =
    data_time``. An alert with newer data than the pass (an older range re-evaluated)
    is left alone.

    Returns:
        The alerts resolved.
    """
    when = utc(at) if at is not None else now()
    cut = utc(data_time)
    keep = set(active_keys)
    wanted_detectors = set(detectors) if detectors is not None else None
    wanted_metrics = set(metrics) if metrics is not None else None
    resolved: list[AlertRow] = []
    with store.lock(ALERTS_LOCK), store.session() as session:
        batch = _Batch(session, GroupingRules(), when)
        for row in list(batch.open_by_key.values()):
            if row.key in keep or utc(row.last_data_time) > cut:
                continue
            if wanted_detectors is not None and row.detector not in wanted_detectors:
                continue
            if wanted_metrics is not None and row.metric not in wanted_metrics:
                continue
            batch.close(row, actor=SYSTEM_ACTOR, note="condition cleared", data_time=cut)
            resolved.append(row)
        batch.finish()
        return [alert_of(r) for r in sorted(resolved, key=lambda r: r.id)]


# --- people: acknowledge and resolve -----------------------------------------------------------


def parse_target(target: str | int) -> tuple[str, int]:
    """``12`` or ``a12`` → an alert; ``g3`` → a group.

    Raises:
        InvalidInput: anything else.
    """
    text = str(target).strip().lower()
    scope = "group" if text.startswith("g") else "alert"
    digits = text[1:] if text[:1] in ("a", "g") else text
    if not digits.isdigit():
        raise InvalidInput(f"not an alert or group id: {target!r} (e.g. 12 for an alert, g3 for a group)")
    return scope, int(digits)


def parse_group(target: str | int) -> int:
    """``g3`` (as ``recops alerts list`` shows it) or ``3`` → group 3.

    Raises:
        InvalidInput: anything else.
    """
    text = str(target).strip()
    _, number = parse_target(text if text.lower().startswith("g") else f"g{text}")
    return number


def acknowledge(
    store: Store, target: str | int, *, actor: str, note: str | None = None, at: datetime | None = None
) -> list[Alert]:
    """Acknowledge a firing alert, or every firing member of a group (``g3``).

    Raises:
        NotFound: no such alert or group.
        Conflict: nothing there is firing (already acknowledged or resolved).
    """
    return _human(store, target, "acknowledged", actor=actor, note=note, at=at)


def resolve(
    store: Store, target: str | int, *, actor: str, note: str | None = None, at: datetime | None = None
) -> list[Alert]:
    """Resolve an open alert, or every open member of a group, by hand.

    If the condition still holds, the next detection pass raises a new alert: resolve
    means "this is over"; to stop notifications while working on it, acknowledge or
    silence instead.

    Raises:
        NotFound: no such alert or group.
        Conflict: it is resolved already.
    """
    return _human(store, target, "resolved", actor=actor, note=note, at=at)


def _human(
    store: Store, target: str | int, new_state: str, *, actor: str, note: str | None, at: datetime | None
) -> list[Alert]:
    scope, ident = parse_target(target)
    when = utc(at) if at is not None else now()
    allowed = ("firing",) if new_state == "acknowledged" else OPEN_STATES
    verb = "acknowledge" if new_state == "acknowledged" else "resolve"
    with human_session(store) as session:
        if scope == "group":
            group = session.get(AlertGroupRow, ident)
            if group is None:
                raise NotFound(f"no alert group g{ident}")
            rows = [m for m in members_of(session, group) if m.state in allowed]
        else:
            row = session.get(AlertRow, ident)
            if row is None:
                raise NotFound(f"no alert {ident}")
            rows = [row] if row.state in allowed else []
            if not rows:
                raise Conflict(f"alert {ident} is {row.state}; cannot {verb} it")
        if not rows:
            raise Conflict(f"alert group g{ident} has no {' or '.join(allowed)} alerts to {verb}")
        batch = _Batch(session, GroupingRules(), when, prefetch=False)
        for row in rows:
            if new_state == "acknowledged":
                batch.acknowledge(row, actor=actor, note=note)
            else:
                batch.close(row, actor=actor, note=note, data_time=None)
            audit.record(
                session,
                actor=actor,
                action=f"alert.{verb}",
                subject=f"alert:{row.id}",
                payload={"alert": row.id, "group": row.group_id, "note": note, "metric": row.metric,
                         "subject": row.subject, "slice": row.slice, "detector": row.detector},
                at=when,
            )  # fmt: skip
        batch.finish()
        return [alert_of(r) for r in rows]


# --- reading ----------------------------------------------------------------------------------


def list_alerts(
    store: Store,
    *,
    state: str | None = None,
    group_id: int | None = None,
    metric: str | None = None,
    limit: int | None = None,
) -> list[Alert]:
    """Alerts, newest first. ``state`` is ``firing``, ``acknowledged``, ``resolved`` or ``open``.

    Raises:
        InvalidInput: an unknown state.
    """
    query = select(AlertRow).order_by(AlertRow.id.desc())
    if state is not None:
        if state == "open":
            query = query.where(AlertRow.state.in_(OPEN_STATES))
        elif state in STATES:
            query = query.where(AlertRow.state == state)
        else:
            raise InvalidInput(f"alert state must be one of open, {', '.join(STATES)}; got {state!r}")
    if group_id is not None:
        query = query.where(AlertRow.group_id == group_id)
    if metric is not None:
        query = query.where(AlertRow.metric == metric)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [alert_of(r) for r in session.scalars(query)]


def get_alert(store: Store, alert_id: int) -> Alert:
    """Raises NotFound when there is no such alert."""
    with store.session() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        return alert_of(row)


def list_groups(store: Store, *, state: str | None = None, limit: int | None = None) -> list[AlertGroup]:
    """Groups, newest first, with their members; ``state`` as in :func:`list_alerts`."""
    query = select(AlertGroupRow).order_by(AlertGroupRow.id.desc())
    if state == "open":
        query = query.where(AlertGroupRow.state.in_(OPEN_STATES))
    elif state is not None:
        if state not in STATES:
            raise InvalidInput(f"group state must be one of open, {', '.join(STATES)}; got {state!r}")
        query = query.where(AlertGroupRow.state == state)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [group_of(g, members_of(session, g)) for g in session.scalars(query).all()]


def get_group(store: Store, group_id: int) -> AlertGroup:
    """Raises NotFound when there is no such group."""
    with store.session() as session:
        row = session.get(AlertGroupRow, group_id)
        if row is None:
            raise NotFound(f"no alert group g{group_id}")
        return group_of(row, members_of(session, row))


def events_of(store: Store, *, alert_id: int | None = None, group_id: int | None = None) -> list[AlertEvent]:
    """Lifecycle events of an alert, or of a group and its members, oldest first."""
    query = select(AlertEventRow).order_by(AlertEventRow.id)
    if alert_id is not None:
        query = query.where(AlertEventRow.alert_id == alert_id)
    if group_id is not None:
        query = query.where(AlertEventRow.group_id == group_id)
    with store.session() as session:
        return [event_of(r) for r in session.scalars(query)]


def snapshot(store: Store, alert_id: int) -> dict[str, Any]:
    """The alert and its group as a notification would carry them."""
    with store.session() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        group = session.get(AlertGroupRow, row.group_id)
        assert group is not None
        return {"alert": alert_snapshot(row), "group": group_snapshot(group, members_of(session, group))}
