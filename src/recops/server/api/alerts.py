"""``/api/alerts``, ``/api/silences``, ``/api/notifications``: alerts over HTTP (``recops alerts``).

Acknowledging, resolving, silencing and delivering need an operator token; the alert
library audits each with the token as actor, then pending notifications are dispatched
as the CLI does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.detect import alerts as alert_lib
from recops.detect import routing, silences
from recops.detect.deadman import silences as deadman_silences
from recops.detect.routes import load_routes
from recops.server.api._common import AUTH_RESPONSES, WS, Operator, Viewer, audit_write, reply

router = APIRouter(tags=["alerts"], responses=AUTH_RESPONSES)

STATE_HELP = "firing, acknowledged, resolved, or open (firing or acknowledged)."


class NoteIn(BaseModel):
    note: str | None = Field(default=None, description="Why (kept with the alert and audited).")


class SilenceIn(BaseModel):
    metric: str = Field(description="Metric name or glob (ctr, feature_*, *).")
    duration: str = Field(description="How long: 30m, 2h, 1d, 1h30m.")
    reason: str = Field(description="Why (shown to whoever is paged next).")
    subject: str = "*"
    slice: str = "*"
    detector: str = "*"


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(
    ws: WS,
    _p: Viewer,
    state: str | None = Query(None, description=STATE_HELP),
    metric: str | None = Query(None, description="Only alerts on this metric."),
    group: int | None = Query(None, description="Only members of this group."),
    limit: int = Query(100, ge=1, le=10_000),
) -> JSONResponse:
    """`recops alerts list --json`."""
    items = alert_lib.list_alerts(ws.store, state=state, metric=metric, group_id=group, limit=limit)
    return reply([a.to_dict() for a in items])


@router.get("/alert-groups", summary="Alert groups, newest first")
def list_groups(
    ws: WS,
    _p: Viewer,
    state: str | None = Query(None, description=STATE_HELP),
    limit: int = Query(100, ge=1, le=10_000),
) -> JSONResponse:
    """`recops alerts list --group --json`: groups with their members and common cause."""
    return reply([g.to_dict() for g in alert_lib.list_groups(ws.store, state=state, limit=limit)])


# Declared before ``/alerts/{target}``, which would otherwise take "deadman" as an alert id.
@router.get("/alerts/deadman", summary="The dead man's switch: data and monitor silence")
def deadman(ws: WS, _p: Viewer) -> JSONResponse:
    """`recops alerts deadman --json`, measured now, without raising or resolving alerts.

    One row per clock: ``data_silence`` for each record kind that has arrived (requests,
    outcomes, arrivals: when its last batch was committed) and ``monitor_silence`` (when
    the monitor run last completed), each with ``last``, ``quiet_minutes``,
    ``limit_minutes`` and ``tripped`` (quiet longer than the limit in recops.toml
    ``[detection]``). A kind that never arrived is not listed. A read: raising and
    resolving the switch's alerts stays with the monitor run and `recops alerts deadman`,
    so a viewer polling this cannot open, resolve or notify anything.
    """
    return reply([s.to_json() for s in deadman_silences(ws.store, ws.config)])


@router.get("/alerts/{target}", summary="One alert or group with events and notifications")
def show(target: str, ws: WS, _p: Viewer) -> JSONResponse:
    """``12`` (an alert) or ``g3`` (a group): evidence, lifecycle events, notifications sent."""
    scope, ident = alert_lib.parse_target(target)
    info: dict[str, Any]
    if scope == "group":
        info = alert_lib.get_group(ws.store, ident).to_dict()
        info["alerts"] = [a.to_dict() for a in alert_lib.list_alerts(ws.store, group_id=ident)]
        events = alert_lib.events_of(ws.store, group_id=ident)
    else:
        info = alert_lib.get_alert(ws.store, ident).to_dict()
        events = alert_lib.events_of(ws.store, alert_id=ident)
    sent = routing.outbox(ws.store, keys=[e.idempotency_key for e in events], limit=None)
    info["events"] = [e.to_dict() for e in events]
    info["notifications"] = [n.to_dict() for n in sent]
    return reply(info)


@router.post("/alerts/{target}/ack", summary="Acknowledge an alert or group (operator)")
def ack(target: str, ws: WS, principal: Operator, body: NoteIn | None = None) -> JSONResponse:
    """Acknowledge a firing alert, or every firing alert of a group (``g3``); audited. 409 if none fires."""
    items = alert_lib.acknowledge(ws.store, target, actor=principal.actor, note=(body or NoteIn()).note)
    routing.dispatch(ws.store, load_routes(ws.config.root))
    return reply([a.to_dict() for a in items])


@router.post("/alerts/{target}/resolve", summary="Resolve an alert or group by hand (operator)")
def resolve(target: str, ws: WS, principal: Operator, body: NoteIn | None = None) -> JSONResponse:
    """Resolve an open alert or every open alert of a group; audited.

    If the condition still holds, the next monitor run raises a new alert.
    """
    items = alert_lib.resolve(ws.store, target, actor=principal.actor, note=(body or NoteIn()).note)
    routing.dispatch(ws.store, load_routes(ws.config.root))
    return reply([a.to_dict() for a in items])


@router.get("/silences", summary="Silences in force (and future ones)")
def list_silences(
    ws: WS, _p: Viewer, all: bool = Query(False, description="Include ended silences.")
) -> JSONResponse:
    """`recops alerts silences --json`, newest first."""
    return reply([s.to_dict() for s in silences.list_silences(ws.store, include_ended=all)])


@router.post("/silences", summary="Silence matching alerts for a while (operator)", status_code=201)
def create_silence(body: SilenceIn, ws: WS, principal: Operator) -> JSONResponse:
    """Stop routing alerts that match until the silence expires (they are still stored); audited."""
    made = silences.create_silence(
        ws.store,
        metric=body.metric,
        subject=body.subject,
        slice=body.slice,
        detector=body.detector,
        duration=silences.parse_duration(body.duration),
        reason=body.reason,
        actor=principal.actor,
    )
    return reply(made.to_dict(), status_code=201)


@router.post("/silences/{silence_id}/expire", summary="End a silence now (operator)")
def expire_silence(silence_id: int, ws: WS, principal: Operator) -> JSONResponse:
    """Alerts it held that are still open are notified; audited."""
    ended = silences.expire_silence(ws.store, silence_id, actor=principal.actor)
    routing.dispatch(ws.store, load_routes(ws.config.root))
    return reply(ended.to_dict())


@router.get("/notifications", summary="The notification outbox")
def notifications(
    ws: WS,
    _p: Viewer,
    state: str | None = Query(None, description="pending, delivered or rejected."),
    route: str | None = Query(None),
    limit: int = Query(100, ge=1, le=10_000),
) -> JSONResponse:
    """`recops alerts outbox --json`: every notification and what its delivery attempts got."""
    return reply([e.to_dict() for e in routing.outbox(ws.store, state=state, route=route, limit=limit)])


@router.post("/notifications/deliver", summary="Send every pending notification now (operator)")
def deliver(ws: WS, principal: Operator) -> JSONResponse:
    """`recops alerts deliver --json`: ignores backoff; each route's attempts, deliveries and errors.

    Delivery keeps no audit entry of its own, so it is audited here as ``notifications.deliver``.
    """
    report = routing.dispatch(ws.store, load_routes(ws.config.root), force=True)
    out = report.to_dict()
    out["audit_seq"] = audit_write(
        ws, principal, "notifications.deliver", "notifications", {"enqueued": report.enqueued}
    )
    return reply(out)


@router.get("/notifications/routes", summary="Notification routes of notify.yaml")
def routes(ws: WS, _p: Viewer) -> JSONResponse:
    """The routes after checking the file; secrets are not shown."""
    loaded = load_routes(ws.config.root)
    return reply(
        {"file": str(loaded.path) if loaded.path else None, "routes": [r.describe() for r in loaded]}
    )


@router.get("/detection/plan", summary="Which detector judges which metric")
def plan(ws: WS, _p: Viewer, metric: str | None = Query(None)) -> JSONResponse:
    """`recops alerts plan --json`: detectors, windows, alarm and warn levels, and why."""
    from recops.catalog import load_catalog
    from recops.detect.plan import default_plan

    catalog = load_catalog(ws.config.root)
    if metric is not None:
        catalog.get(metric)  # 400 naming close matches for an unknown metric
    chosen = default_plan(catalog, ws.config)
    return reply(
        [
            {"metric": name, **spec.to_json()}
            for name in chosen.metrics
            if metric is None or name == metric
            for spec in chosen.for_metric(name)
        ]
    )
