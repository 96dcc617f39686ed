"""Incident pages: the list, and one incident with impact, timeline, post-mortem and action items.

The calls are those of ``recops incident ...``. The post-mortem shown on the page is
assembled from the library's own parts (impact, timeline, root cause, findings, render)
without :func:`recops.respond.postmortem.postmortem`'s side effect of seeding action
items: a viewer reading the page must not write. Seeding is an operator's form.

Every write passes the token as actor to the incident library, which appends it to the
audit log; writing a post-mortem is audited here, as in the API.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import PlainTextResponse, Response

from recops.errors import InvalidInput, RecopsError
from recops.respond import incidents as incident_lib
from recops.respond.impact import impact
from recops.respond.postmortem import PostMortem, earlier, postmortem, render, root_cause
from recops.respond.timeline import timeline
from recops.server.api._common import audit_write
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui.alerts import done, workspace
from recops.server.ui.render import page
from recops.workspace import Workspace

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, Depends(require_page("viewer"))]
Operator = Annotated[Principal, Depends(require_page("operator"))]


def preview(ws: Workspace, inc: incident_lib.Incident) -> PostMortem:
    """The post-mortem as :func:`postmortem` builds it, minus seeding action items (a read)."""
    causes = root_cause(ws.store, ws.lake, ws.config, inc)
    pm = PostMortem(
        inc, impact(ws.lake, inc), timeline(ws.store, ws.lake, inc), causes, earlier(ws.store, inc, causes),
        incident_lib.actions(ws.store, incident_id=inc.id),
    )  # fmt: skip
    return PostMortem(pm.incident, pm.impact, pm.timeline, pm.root_cause, pm.earlier, pm.actions, render(pm))


@router.get("/incidents")
def incidents_page(request: Request, _p: Viewer, state: str | None = None) -> Response:
    ws = workspace(request)
    items = incident_lib.list_incidents(ws.store, state=state or None)
    return page(
        request,
        "incidents.html",
        {"incidents": items, "state": state or "", "states": ("active", *incident_lib.STATES),
         "open_actions": incident_lib.actions(ws.store, state="open")},
    )  # fmt: skip


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, incident_id: int, _p: Viewer) -> Response:
    ws = workspace(request)
    inc = incident_lib.get_incident(ws.store, incident_id)
    started = time.perf_counter()
    pm = preview(ws, inc)
    return page(
        request,
        "incident.html",
        {"inc": inc, "pm": pm, "impact": pm.impact.to_dict(),
         "log": incident_lib.events(ws.store, incident_id), "seconds": time.perf_counter() - started},
    )  # fmt: skip


@router.get("/incidents/{incident_id}/postmortem.md")
def postmortem_markdown(request: Request, incident_id: int, _p: Viewer) -> Response:
    """The post-mortem's Markdown, as ``recops incident postmortem`` writes it (without seeding)."""
    ws = workspace(request)
    pm = preview(ws, incident_lib.get_incident(ws.store, incident_id))
    return PlainTextResponse(pm.markdown, media_type="text/markdown; charset=utf-8")


@router.post("/incidents")
def open_from_group(request: Request, principal: Operator, group_id: Annotated[int, Form()]) -> Response:
    """``recops incident open --group G`` as the signed-in token."""
    ws = workspace(request)
    try:
        inc = incident_lib.open_incident(ws.store, ws.lake, group_id=group_id, actor=principal.actor)
    except RecopsError as exc:
        return done(f"/alerts/groups/{group_id}", f"no incident opened: {exc}")
    return done(f"/incidents/{inc.id}", f"incident {inc.id} opened from alert group g{group_id}")


@router.post("/incidents/{incident_id}/state")
def change_state(
    request: Request,
    incident_id: int,
    principal: Operator,
    state: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:
    """``recops incident mitigate|resolve ID [--note ...]``; the time is inferred as on the CLI."""
    ws = workspace(request)
    here = f"/incidents/{incident_id}"
    steps = {"mitigated": incident_lib.mitigate, "resolved": incident_lib.resolve}
    try:
        if state not in steps:
            raise InvalidInput(f"state must be mitigated or resolved, got {state!r}")
        inc = steps[state](ws.store, incident_id, actor=principal.actor, note=note.strip() or None)
    except RecopsError as exc:
        return done(here, f"not changed: {exc}")
    at = inc.mitigated_at if state == "mitigated" else inc.resolved_at
    return done(
        here, f"incident {inc.id} {state} at {at:%Y-%m-%d %H:%M}Z" if at else f"incident {inc.id} {state}"
    )


@router.post("/incidents/{incident_id}/actions")
def add_action(
    request: Request,
    incident_id: int,
    principal: Operator,
    title: Annotated[str, Form()],
    owner: Annotated[str, Form()],
) -> Response:
    """``recops incident action add ID --title ... --owner ...``."""
    ws = workspace(request)
    here = f"/incidents/{incident_id}"
    try:
        item = incident_lib.add_action(
            ws.store, incident_id, title.strip(), owner.strip(), actor=principal.actor
        )
    except RecopsError as exc:
        return done(here, f"no action item added: {exc}")
    return done(here, f"action item {item.id} added")


@router.post("/incidents/{incident_id}/actions/{action_id}/close")
def close_action(
    request: Request,
    incident_id: int,
    action_id: int,
    principal: Operator,
    note: Annotated[str, Form()] = "",
) -> Response:
    """``recops incident action close ACTION_ID [--note ...]``."""
    ws = workspace(request)
    here = f"/incidents/{incident_id}"
    try:
        item = incident_lib.close_action(
            ws.store, action_id, actor=principal.actor, note=note.strip() or None
        )
    except RecopsError as exc:
        return done(here, f"not closed: {exc}")
    return done(here, f"action item {item.id} closed")


@router.post("/incidents/{incident_id}/postmortem")
def seed_postmortem(request: Request, incident_id: int, principal: Operator) -> Response:
    """``recops incident postmortem ID --owner <token>``: the first one seeds the action items."""
    ws = workspace(request)
    here = f"/incidents/{incident_id}"
    before = len(incident_lib.actions(ws.store, incident_id=incident_id))
    try:
        pm = postmortem(ws.store, ws.lake, ws.config, incident_id, owner=principal.actor)
    except RecopsError as exc:
        return done(here, f"no post-mortem: {exc}")
    added = len(pm.actions) - before
    audit_write(ws, principal, "incident.postmortem", f"incident:{incident_id}", {"actions_added": added})
    return done(
        here, f"post-mortem written; {added} action item(s) seeded" if added else "post-mortem written"
    )
