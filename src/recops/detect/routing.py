"""Routing: events → a persistent outbox → receivers, at least once, in order per route.

:func:`enqueue` first lets ended silences go (:func:`recops.detect.silences.lift_ended`)
and records group events (:func:`recops.detect.grouping.sync_groups`); then every event
not yet routed becomes one outbox row per route that wants it:

* the route's ``scope`` is the event's (``alert`` or ``group``);
* an *opening* event (``fired``, ``escalated``, ``opened``, ``updated``) goes where its
  severity reaches the route's ``min_severity``, unless the alert is silenced;
* a *closing* event (``acknowledged``, ``resolved``) goes only to routes that were told
  about the alert or group before, so nobody hears of the end of something they never
  heard of, and everybody who heard of the start hears of the end.

Rows are written in the same transaction that marks the events routed, so an event is
routed exactly once and lost never. :func:`deliver_pending` sends what is due, oldest
first, per route; a route whose oldest row fails stops there until its next attempt, so a
receiver never gets ``resolved`` before ``fired``. Failures wait ``backoff(attempts)``:
``min(cap, base · 2^(attempts-1))`` shortened by a random fraction up to ``jitter`` (30 s,
1 min, 2 min, ... up to 1 h by default), and are retried by every later call, from
``recops monitor run``, ``recops alerts deliver`` or the server's scheduler, for as long
as it takes; nothing is dropped because a receiver was down. A receiver that refuses the
payload itself (HTTP 400, 413, 422) gets that row marked ``rejected`` and the rest still
flow. Every attempt is kept in ``alert_deliveries`` (the delivery log); error text is
scrubbed of the route's secrets before it is stored.

Delivery holds the store's ``alerts-outbox`` lock, so two processes never send the same
row at once; a crash between a receiver's ``200`` and the commit can still repeat one,
which the idempotency key lets the receiver drop.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recops.detect.audit import ALERTS_LOCK
from recops.detect.events import iso, loads, now, severity_rank, utc, utc_or_none
from recops.detect.grouping import sync_groups
from recops.detect.notifiers import (
    DeliveryFailed,
    OutgoingEvent,
    Transport,
    UrllibTransport,
    monotonic_ms,
    render,
)
from recops.detect.routes import RetryPolicy, Route, Routes, SecretMissing
from recops.detect.silences import lift_ended
from recops.store import Store
from recops.store.tables import AlertDeliveryRow, AlertEventRow, AlertOutboxRow, AlertRow

OUTBOX_LOCK = "alerts-outbox"
OPENING = frozenset({"fired", "escalated", "opened", "updated"})
DEFAULT_BATCH = 500


def backoff(attempts: int, policy: RetryPolicy, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (module docstring)."""
    delay = min(policy.cap_seconds, policy.base_seconds * 2 ** max(attempts - 1, 0))
    fraction = (rng or random).random() * policy.jitter
    return timedelta(seconds=delay * (1.0 - fraction))


# --- enqueue -----------------------------------------------------------------------------------


def enqueue(store: Store, routes: Routes, *, at: datetime | None = None) -> int:
    """Turn unrouted events into outbox rows (module docstring). Returns the rows added."""
    when = utc(at) if at is not None else now()
    added = 0
    with store.lock(ALERTS_LOCK), store.session() as session:
        lift_ended(session, when)
        sync_groups(session, when)
        session.flush()
        events = session.scalars(
            select(AlertEventRow).where(AlertEventRow.routed.is_(False)).order_by(AlertEventRow.id)
        ).all()
        told = _told(session, events)
        for event in events:
            alert = session.get(AlertRow, event.alert_id) if event.alert_id is not None else None
            opening = event.kind in OPENING
            if opening and alert is not None and alert.silence_id is not None:
                event.silenced = True  # silenced after the event, before anyone was told
            if opening and alert is not None and not event.silenced:
                alert.notified = True
            for route in routes:
                if _wants(route, event, opening, told):
                    session.add(
                        AlertOutboxRow(
                            event_id=event.id,
                            route=route.name,
                            idempotency_key=event.idempotency_key,
                            state="pending",
                            attempts=0,
                            next_attempt_at=when,
                            created_at=when,
                        )
                    )
                    told.add((route.name, event.scope, _owner(event)))
                    added += 1
            event.routed = True
    return added


def _owner(event: AlertEventRow) -> int:
    return event.alert_id if event.scope == "alert" and event.alert_id is not None else event.group_id


def _told(session: Session, events: Any) -> set[tuple[str, str, int]]:
    """(route, scope, alert or group id) pairs that already have an outbox row."""
    owners = {(e.scope, _owner(e)) for e in events if e.kind not in OPENING}
    if not owners:
        return set()
    rows = session.execute(
        select(AlertOutboxRow.route, AlertEventRow.scope, AlertEventRow.alert_id, AlertEventRow.group_id)
        .join(AlertEventRow, AlertEventRow.id == AlertOutboxRow.event_id)
        .where(AlertEventRow.group_id.in_(sorted({e.group_id for e in events})))
    )
    out: set[tuple[str, str, int]] = set()
    for route, scope, alert_id, group_id in rows:
        owner = alert_id if scope == "alert" and alert_id is not None else group_id
        if (scope, owner) in owners:
            out.add((route, scope, owner))
    return out


def _wants(route: Route, event: AlertEventRow, opening: bool, told: set[tuple[str, str, int]]) -> bool:
    if route.scope != event.scope:
        return False
    if opening:
        return not event.silenced and severity_rank(event.severity) >= severity_rank(route.min_severity)
    return (route.name, event.scope, _owner(event)) in told


# --- deliver -----------------------------------------------------------------------------------


@dataclass
class RouteResult:
    """What one delivery pass did for one route."""

    route: str
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    pending: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "failed": self.failed,
            "rejected": self.rejected,
            "pending": self.pending,
            "last_error": self.last_error,
            "next_attempt_at": iso(self.next_attempt_at),
        }


@dataclass
class DeliveryReport:
    """A delivery pass: rows enqueued, per-route results, pending rows of unknown routes."""

    enqueued: int = 0
    routes: list[RouteResult] = field(default_factory=list)
    orphaned: dict[str, int] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return sum(r.delivered for r in self.routes)

    @property
    def pending(self) -> int:
        return sum(r.pending for r in self.routes) + sum(self.orphaned.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "enqueued": self.enqueued,
            "delivered": self.delivered,
            "pending": self.pending,
            "routes": [r.to_dict() for r in self.routes],
            "orphaned": self.orphaned,
        }


def deliver_pending(
    store: Store,
    routes: Routes,
    *,
    at: datetime | None = None,
    transport: Transport | None = None,
    force: bool = False,
    limit: int = DEFAULT_BATCH,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send due outbox rows, oldest first per route (module docstring).

    Args:
        at: the time backoff is judged against and attempts are stamped with (default now).
        transport: what sends (default :class:`UrllibTransport`).
        force: send a route's rows even if its oldest is still backing off
            (``recops alerts deliver``).
        limit: at most this many attempts per route in this pass.
        rng: randomness for the backoff jitter.
    """
    when = utc(at) if at is not None else now()
    sender = transport or UrllibTransport()
    report = DeliveryReport()
    with store.lock(OUTBOX_LOCK):
        for route in routes:
            report.routes.append(_deliver_route(store, route, routes.retry, sender, when, force, limit, rng))
        with store.session() as session:
            names = {r.name for r in routes}
            for name, count in session.execute(
                select(AlertOutboxRow.route, func.count())
                .where(AlertOutboxRow.state == "pending")
                .group_by(AlertOutboxRow.route)
            ):
                if name not in names:
                    report.orphaned[name] = int(count)
    return report


def _deliver_route(
    store: Store,
    route: Route,
    policy: RetryPolicy,
    sender: Transport,
    at: datetime,
    force: bool,
    limit: int,
    rng: random.Random | None,
) -> RouteResult:
    result = RouteResult(route.name)
    with store.session() as session:
        rows = session.execute(
            select(AlertOutboxRow, AlertEventRow)
            .join(AlertEventRow, AlertEventRow.id == AlertOutboxRow.event_id)
            .where(AlertOutboxRow.route == route.name, AlertOutboxRow.state == "pending")
            .order_by(AlertOutboxRow.id)
            .limit(limit)
        ).all()
        work = [(o.id, o.attempts, utc(o.next_attempt_at), _outgoing(e)) for o, e in rows]
    secrets = route.secrets()
    for position, (outbox_id, attempts, due, event) in enumerate(work):
        if position == 0 and due > at and not force:
            result.next_attempt_at = due
            break
        started = monotonic_ms()
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            status = sender.send(render(route, event), policy.timeout_seconds)
        except DeliveryFailed as exc:
            status, error, permanent = exc.status, _scrub(str(exc), secrets), exc.permanent
        except SecretMissing as exc:
            error = str(exc)
        elapsed = monotonic_ms() - started
        result.attempted += 1
        retry_at = at + backoff(attempts + 1, policy, rng) if error is not None and not permanent else None
        with store.session() as session:
            row = session.get(AlertOutboxRow, outbox_id)
            assert row is not None
            row.attempts = attempts + 1
            row.last_status = status
            row.last_error = error
            if error is None:
                row.state, row.delivered_at = "delivered", at
            elif permanent:
                row.state = "rejected"
            else:
                assert retry_at is not None
                row.next_attempt_at = retry_at
            session.add(
                AlertDeliveryRow(
                    outbox_id=outbox_id,
                    attempt=attempts + 1,
                    at=at,
                    ok=error is None,
                    status=status,
                    error=error,
                    duration_ms=round(elapsed, 3),
                )
            )
        if error is None:
            result.delivered += 1
            continue
        result.last_error = error
        if permanent:
            result.rejected += 1
            continue
        result.failed += 1
        result.next_attempt_at = retry_at
        break
    with store.session() as session:
        result.pending = int(
            session.scalar(
                select(func.count())
                .select_from(AlertOutboxRow)
                .where(AlertOutboxRow.route == route.name, AlertOutboxRow.state == "pending")
            )
            or 0
        )
    return result


def _outgoing(event: AlertEventRow) -> OutgoingEvent:
    return OutgoingEvent(
        scope=event.scope,
        kind=event.kind,
        idempotency_key=event.idempotency_key,
        severity=event.severity,
        at=iso(event.at) or "",
        actor=event.actor,
        note=event.note,
        payload=loads(event.payload) or {},
    )


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:2000]


def dispatch(
    store: Store,
    routes: Routes,
    *,
    at: datetime | None = None,
    transport: Transport | None = None,
    force: bool = False,
) -> DeliveryReport:
    """Enqueue new events and deliver what is due: what every detection pass ends with."""
    added = enqueue(store, routes, at=at)
    report = deliver_pending(store, routes, at=at, transport=transport, force=force)
    report.enqueued = added
    return report


# --- reading the outbox ------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxEntry:
    """An outbox row with its event, for ``recops alerts outbox``."""

    id: int
    route: str
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    idempotency_key: str
    scope: str
    kind: str
    alert_id: int | None
    group_id: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "route": self.route,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "delivered_at": iso(self.delivered_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "idempotency_key": self.idempotency_key,
            "scope": self.scope,
            "event": self.kind,
            "alert_id": self.alert_id,
            "group_id": self.group_id,
        }


def outbox(
    store: Store,
    *,
    state: str | None = None,
    route: str | None = None,
    keys: Iterable[str] | None = None,
    limit: int | None = 100,
) -> list[OutboxEntry]:
    """Outbox rows, newest first: of one state (pending, delivered, rejected), route or
    set of idempotency keys (an alert's events), each None for all."""
    query = (
        select(AlertOutboxRow, AlertEventRow)
        .join(AlertEventRow, AlertEventRow.id == AlertOutboxRow.event_id)
        .order_by(AlertOutboxRow.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    if keys is not None:
        query = query.where(AlertOutboxRow.idempotency_key.in_(list(keys)))
    if state is not None:
        query = query.where(AlertOutboxRow.state == state)
    if route is not None:
        query = query.where(AlertOutboxRow.route == route)
    with store.session() as session:
        return [
            OutboxEntry(
                id=o.id,
                route=o.route,
                state=o.state,
                attempts=o.attempts,
                next_attempt_at=utc(o.next_attempt_at),
                delivered_at=utc_or_none(o.delivered_at),
                last_status=o.last_status,
                last_error=o.last_error,
                idempotency_key=o.idempotency_key,
                scope=e.scope,
                kind=e.kind,
                alert_id=e.alert_id,
                group_id=e.group_id,
            )
            for o, e in session.execute(query).all()
        ]


def deliveries(store: Store, outbox_id: int) -> list[dict[str, Any]]:
    """The delivery log of one outbox row, oldest first."""
    with store.session() as session:
        rows = session.scalars(
            select(AlertDeliveryRow)
            .where(AlertDeliveryRow.outbox_id == outbox_id)
            .order_by(AlertDeliveryRow.id)
        )
        return [
            {"attempt": r.attempt, "at": iso(r.at), "ok": r.ok, "status": r.status, "error": r.error,
             "duration_ms": r.duration_ms}
            for r in rows
        ]  # fmt: skip
