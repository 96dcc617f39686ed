"""Alert pages: the list, a group with THE diagnosis of its first alert, one alert, ``/diagnose``.

The group page is where an operator lands from the overview, so it renders the ranked
causes in the page itself (no second click, no script): the top hypothesis first, with
the entity it names (model version, segment, feature group...) spelled out in text.
Acknowledge and resolve are forms that post to this module; the alert library audits
them with the signed-in token as actor, and pending notifications are dispatched after,
as ``recops alerts ack`` does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from recops.detect import alerts as alert_lib
from recops.detect import routing
from recops.detect.events import SEVERITIES
from recops.detect.routes import load_routes
from recops.diagnose.diagnose import diagnose_metric, entity_parts
from recops.diagnose.stored import stored_diagnosis
from recops.errors import InvalidInput, RecopsError
from recops.lake.sqltext import literal
from recops.lake.windows import parse_local_time
from recops.respond.incidents import list_incidents
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui.render import page
from recops.workspace import Workspace

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, Depends(require_page("viewer"))]
Operator = Annotated[Principal, Depends(require_page("operator"))]

#: Hypotheses listed under the top one (the rest are counted, as ``recops diagnose --top``).
SHOWN = 12
#: Alerts and groups listed on /alerts (newest first).
LIMIT = 300


def workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def back(target: str | None, default: str) -> str:
    """A same-site path to return to after a form: never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def done(path: str, message: str) -> RedirectResponse:
    """303 back to ``path`` with a flash message the page shows once."""
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}flash={quote(message)}", status_code=303)


def example_requests_sql(entity: Mapping[str, Any], start: str, end: str) -> str | None:
    """A read-only query listing requests the top cause touched (for the SQL page, whose rows link to traces).

    Only when the cause names a model version; a ``surface`` or context segment narrows it.
    """
    version = entity.get("model_version") or entity.get("version")
    if not isinstance(version, str) or not version:
        return None
    where = [f"model_version = {literal(version)}", f"ts >= TIMESTAMPTZ {literal(start)}",
             f"ts < TIMESTAMPTZ {literal(end)}"]  # fmt: skip
    segment = entity.get("segment")
    if isinstance(segment, str) and "=" in segment and "," not in segment:
        key, value = segment.split("=", 1)
        if key == "surface":
            where.append(f"surface = {literal(value)}")
        elif key.isidentifier():
            where.append(f"context[{literal(key)}] = {literal(value)}")
    return (
        "SELECT request_id, ts, surface, user_id, model_version, status, latency_ms, context\n"
        f"FROM requests\nWHERE {' AND '.join(where)}\nORDER BY ts\nLIMIT 20"
    )


def diagnosis_view(data: dict[str, Any], wall_seconds: float) -> dict[str, Any]:
    """What the diagnosis partial renders: the diagnosis JSON plus display helpers."""
    findings = [h for h in data["hypotheses"] if h["score"] > 0]
    for h in findings:
        h["entity_text"] = entity_parts(h["entity"])
    top = findings[0] if findings else None
    current = data["move"]["current"]
    examples = example_requests_sql(top["entity"], current["start"], current["end"]) if top else None
    return {
        "data": data,
        "top": top,
        "rest": findings[1 : SHOWN + 1],
        "more": max(0, len(findings) - SHOWN - 1),
        "zero": len(data["hypotheses"]) - len(findings),
        "examples": "/sql?" + urlencode({"q": examples}) if examples else None,
        "wall_seconds": wall_seconds,
        "computed_at": data.get("computed_at"),
    }


def diagnose_alert_view(
    ws: Workspace, alert: alert_lib.Alert, *, refresh: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """The stored diagnosis of an alert for a page, or the reason there is none (never an error page).

    Stored diagnoses (recops.diagnose.stored) are computed by the scheduler right after
    detection, so a page usually reads one row; an alert never diagnosed is diagnosed now.
    """
    try:
        data = stored_diagnosis(ws.store, ws.lake, ws.config, alert.id, refresh=refresh)
    except RecopsError as exc:
        return None, str(exc)
    return diagnosis_view(data, float(data["seconds"])), None


def first_alert(members: list[alert_lib.Alert]) -> alert_lib.Alert | None:
    """The group's first alert: earliest data time (what incidents and post-mortems diagnose)."""
    return min(members, key=lambda a: (a.data_time, a.id)) if members else None


@router.get("/alerts")
def alerts_page(
    request: Request, _p: Viewer, state: str | None = None, severity: str | None = None
) -> Response:
    ws = workspace(request)
    state = state or None
    severity = severity or None
    if severity is not None and severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}; got {severity!r}")
    groups = alert_lib.list_groups(ws.store, state=state, limit=LIMIT)
    alerts = alert_lib.list_alerts(ws.store, state=state, limit=LIMIT)
    if severity is not None:
        groups = [g for g in groups if g.severity == severity]
        alerts = [a for a in alerts if a.severity == severity]
    return page(
        request,
        "alerts.html",
        {"groups": groups, "alerts": alerts, "state": state or "", "severity": severity or "",
         "states": ("open", "firing", "acknowledged", "resolved"), "severities": SEVERITIES, "limit": LIMIT},
    )  # fmt: skip


@router.get("/alerts/groups/{group_id}")
def group_page(request: Request, group_id: int, _p: Viewer, refresh: bool = False) -> Response:
    ws = workspace(request)
    group = alert_lib.get_group(ws.store, group_id)
    members = alert_lib.list_alerts(ws.store, group_id=group_id)
    first = first_alert(members)
    diagnosis, problem = (
        diagnose_alert_view(ws, first, refresh=refresh) if first else (None, "the group has no alerts")
    )
    incidents = [i for i in list_incidents(ws.store) if i.group_id == group_id]
    return page(
        request,
        "alert_group.html",
        {"group": group, "members": members, "first": first, "diagnosis": diagnosis,
         "diagnosis_problem": problem, "events": alert_lib.events_of(ws.store, group_id=group_id),
         "incidents": incidents},
    )  # fmt: skip


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: int, _p: Viewer, refresh: bool = False) -> Response:
    ws = workspace(request)
    alert = alert_lib.get_alert(ws.store, alert_id)
    diagnosis, problem = diagnose_alert_view(ws, alert, refresh=refresh)
    return page(
        request,
        "alert.html",
        {"alert": alert, "diagnosis": diagnosis, "diagnosis_problem": problem,
         "events": alert_lib.events_of(ws.store, alert_id=alert_id)},
    )  # fmt: skip


def _act(
    request: Request, principal: Principal, target: str, verb: str, note: str, next_url: str | None
) -> Response:
    """Acknowledge or resolve ``target`` (``12`` or ``g3``) as the signed-in token, then go back."""
    ws = workspace(request)
    scope, ident = alert_lib.parse_target(target)
    default = f"/alerts/groups/{ident}" if scope == "group" else f"/alerts/{ident}"
    action = alert_lib.acknowledge if verb == "acknowledged" else alert_lib.resolve
    try:
        items = action(ws.store, target, actor=principal.actor, note=note.strip() or None)
    except RecopsError as exc:
        return done(back(next_url, default), f"not {verb}: {exc}")
    routing.dispatch(ws.store, load_routes(ws.config.root))
    ids = ", ".join(str(a.id) for a in items)
    return done(back(next_url, default), f"{verb} alert{'s' if len(items) != 1 else ''} {ids}")


VERBS = {"ack": "acknowledged", "resolve": "resolved"}


@router.post("/alerts/{target}/{verb}")
def act(
    request: Request,
    target: str,
    verb: Literal["ack", "resolve"],
    principal: Operator,
    note: Annotated[str, Form()] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Acknowledge or resolve an alert (``12``) or a group (``g3``) as the signed-in token."""
    return _act(request, principal, target, VERBS[verb], note, next)


@router.get("/diagnose")
def diagnose_page(
    request: Request,
    _p: Viewer,
    metric: str | None = None,
    subject: str = "",
    slice: str = "",
    granularity: str | None = None,
) -> Response:
    """``diagnose_metric`` over ``from``..``to`` (family pages link here); a form without a metric."""
    ws = workspace(request)
    params = request.query_params
    form = {"metric": metric or "", "from": params.get("from", ""), "to": params.get("to", ""),
            "subject": subject, "slice": slice, "granularity": granularity or ""}  # fmt: skip
    diagnosis: dict[str, Any] | None = None
    problem: str | None = None
    if metric:
        started = time.perf_counter()
        try:
            if not form["from"] or not form["to"]:
                raise InvalidInput("give both from and to (ISO 8601; a naive time is in the workspace zone)")
            lo = parse_local_time(form["from"], ws.config.zone)
            hi = parse_local_time(form["to"], ws.config.zone)
            result = diagnose_metric(
                ws.store, ws.lake, ws.config, metric, lo, hi, subject=subject, slice=slice,
                granularity=granularity or None,
            )  # fmt: skip
            diagnosis = diagnosis_view(result.to_json(), time.perf_counter() - started)
        except RecopsError as exc:
            problem = str(exc)
    return page(
        request, "diagnose.html", {"form": form, "diagnosis": diagnosis, "diagnosis_problem": problem}
    )
