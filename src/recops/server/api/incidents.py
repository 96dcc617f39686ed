"""``/api/incidents``: open, track, mitigate, resolve, action items, post-mortems (``recops incident``).

Writes need an operator token. The incident library audits opening, transitions, notes
and action items itself with the token as actor; writing a post-mortem (which seeds
action items and a file) is audited here as ``incident.postmortem``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.errors import InvalidInput
from recops.registry._canonical import parse_time
from recops.server.api._common import AUTH_RESPONSES, WS, Operator, Viewer, audit_write, reply

router = APIRouter(tags=["incidents"], responses=AUTH_RESPONSES)


def _time(text: str | None) -> datetime | None:
    """An incident time as on the CLI: RFC 3339 (a naive one is UTC)."""
    return parse_time(text) if text else None


class IncidentIn(BaseModel):
    """From an alert group (``group``), or by hand (``title`` with ``start`` or ``detected``)."""

    group: int | None = Field(default=None, description="Alert group id.")
    title: str | None = None
    cause: str | None = Field(default=None, description="e.g. model_version:v13, feature_group:X.")
    model: str | None = None
    start: str | None = Field(default=None, description="Start (data time, ISO 8601).")
    detected: str | None = Field(default=None, description="Detection (data time).")
    playbook: str | None = None


class TransitionIn(BaseModel):
    state: str = Field(description="mitigated or resolved.")
    at: str | None = Field(
        default=None, description="When (data time); default inferred (docs/incidents.md)."
    )
    note: str | None = Field(default=None, description="A note kept in the incident log.")


class NoteIn(BaseModel):
    note: str = Field(description="Kept in the incident log; shown in the timeline and the post-mortem.")
    at: str | None = Field(default=None, description="When (data time, RFC 3339); default now.")


class ActionIn(BaseModel):
    title: str
    owner: str


class CloseIn(BaseModel):
    note: str | None = None


class PostmortemIn(BaseModel):
    owner: str | None = Field(
        default=None, description="Owner of the action items the first post-mortem seeds."
    )


@router.get("/incidents", summary="Incidents, newest first, and every open action item")
def list_incidents(
    ws: WS, _p: Viewer, state: str | None = Query(None, description="active, open, mitigated or resolved.")
) -> JSONResponse:
    """`recops incident list --json`."""
    from recops.respond.incidents import actions
    from recops.respond.incidents import list_incidents as find

    return reply(
        {
            "incidents": [i.to_dict() for i in find(ws.store, state=state)],
            "open_actions": [a.to_dict() for a in actions(ws.store, state="open")],
        }
    )


@router.get("/incidents/{incident_id}", summary="An incident with its impact, timeline and actions")
def show(incident_id: int, ws: WS, _p: Viewer) -> JSONResponse:
    """`recops incident show ID --json`."""
    from recops.respond.impact import impact
    from recops.respond.incidents import actions, get_incident
    from recops.respond.timeline import timeline

    inc = get_incident(ws.store, incident_id)
    data: dict[str, Any] = inc.to_dict()
    data["impact"] = impact(ws.lake, inc).to_dict()
    data["timeline"] = [e.to_dict() for e in timeline(ws.store, ws.lake, inc)]
    data["actions"] = [a.to_dict() for a in actions(ws.store, incident_id=inc.id)]
    return reply(data)


@router.post("/incidents", summary="Open an incident (operator)", status_code=201)
def open_incident(body: IncidentIn, ws: WS, principal: Operator) -> JSONResponse:
    """From an alert group (start, detection, cause and model inferred) or by hand; audited."""
    from recops.respond.incidents import open_incident as open_one

    inc = open_one(
        ws.store, ws.lake, group_id=body.group, title=body.title, cause=body.cause, model=body.model,
        started_at=_time(body.start), detected_at=_time(body.detected), playbook=body.playbook,
        actor=principal.actor,
    )  # fmt: skip
    return reply(inc.to_dict(), status_code=201)


@router.post("/incidents/{incident_id}/transition", summary="Mark mitigated or resolved (operator)")
def transition(incident_id: int, body: TransitionIn, ws: WS, principal: Operator) -> JSONResponse:
    """Move the incident on; audited.

    ``mitigated`` defaults to the implicated version's rollback, ``resolved`` to when its
    alerts cleared.
    """
    from recops.respond.incidents import mitigate, resolve

    moves = {"mitigated": mitigate, "resolved": resolve}
    if body.state not in moves:
        raise InvalidInput(f"state must be mitigated or resolved, got {body.state!r}")
    inc = moves[body.state](ws.store, incident_id, at=_time(body.at), actor=principal.actor, note=body.note)
    return reply(inc.to_dict())


@router.post(
    "/incidents/{incident_id}/notes", summary="Add a note to an incident (operator)", status_code=201
)
def add_note(incident_id: int, body: NoteIn, ws: WS, principal: Operator) -> JSONResponse:
    """A note in the incident's log with the token as author; audited. Answers the incident."""
    from recops.respond.incidents import add_note as note
    from recops.respond.incidents import get_incident

    note(ws.store, incident_id, body.note, actor=principal.actor, at=_time(body.at))
    return reply(get_incident(ws.store, incident_id).to_dict(), status_code=201)


@router.post("/incidents/{incident_id}/actions", summary="Add an action item (operator)", status_code=201)
def add_action(incident_id: int, body: ActionIn, ws: WS, principal: Operator) -> JSONResponse:
    """An action item with an owner; audited."""
    from recops.respond.incidents import add_action as add

    item = add(ws.store, incident_id, body.title, body.owner, actor=principal.actor)
    return reply(item.to_dict(), status_code=201)


@router.post("/actions/{action_id}/close", summary="Close an action item (operator)")
def close_action(action_id: int, ws: WS, principal: Operator, body: CloseIn | None = None) -> JSONResponse:
    """Closed by the token; audited."""
    from recops.respond.incidents import close_action as close

    note = (body or CloseIn()).note
    item = close(ws.store, action_id, actor=principal.actor, note=note)
    return reply(item.to_dict())


@router.post("/incidents/{incident_id}/postmortem", summary="Write the post-mortem (operator)")
def postmortem(
    incident_id: int, ws: WS, principal: Operator, body: PostmortemIn | None = None
) -> JSONResponse:
    """Build it, write ``postmortems/incident-ID.md`` in the workspace, and answer with it.

    The first post-mortem of an incident seeds its action items, hence a write; audited.
    """
    from recops.respond.postmortem import postmortem as build

    pm = build(ws.store, ws.lake, ws.config, incident_id, owner=(body or PostmortemIn()).owner)
    path = ws.config.root / "postmortems" / f"incident-{incident_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pm.markdown, encoding="utf-8")
    audit_write(ws, principal, "incident.postmortem", f"incident:{incident_id}", {"path": str(path)})
    return reply({"path": str(path), "markdown": pm.markdown, **pm.to_dict()})
