"""``recops incident open|list|show|mitigate|resolve|postmortem|action``: incidents end to end."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json, print_pairs
from recops.errors import InvalidInput
from recops.workspace import Workspace

app = typer.Typer(
    help="Incidents: open, track, mitigate, resolve, and write their post-mortems.", no_args_is_help=True
)
actions_app = typer.Typer(help="Post-mortem action items: add and close.", no_args_is_help=True)
app.add_typer(actions_app, name="action")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="incident")


IdArg = Annotated[int, typer.Argument(help="Incident id.", show_default=False)]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="When (RFC 3339, data time); default inferred (see docs/incidents.md).",
        show_default=False,
    ),
]
NoteOption = Annotated[
    str | None, typer.Option("--note", help="A note kept in the incident log.", show_default=False)
]


def _time(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{what} must be an RFC 3339 time, got {text!r}") from None


def _show(data: dict[str, Any], title: str) -> None:
    print_pairs([(k, v) for k, v in data.items() if v is not None], title=title)


@app.command("open")
def open_cmd(
    group: Annotated[
        str | None,
        typer.Option(
            "--group", "-g", help="Alert group: g3 (as `alerts list` shows it) or 3.", show_default=False
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Title (required by hand).", show_default=False)
    ] = None,
    cause: Annotated[
        str | None,
        typer.Option("--cause", help="e.g. model_version:v13, feature_group:X.", show_default=False),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="The model concerned.", show_default=False)
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Start (data time).", show_default=False)
    ] = None,
    detected: Annotated[
        str | None, typer.Option("--detected", help="Detection (data time).", show_default=False)
    ] = None,
    playbook: Annotated[
        str | None, typer.Option("--playbook", help="Playbook followed.", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Open an incident from an alert group (--group) or by hand (--title with --start or --detected)."""
    from recops.detect.alerts import parse_group
    from recops.respond.incidents import open_incident

    group_id = parse_group(group) if group is not None else None
    with Workspace.open(workspace) as ws:
        inc = open_incident(
            ws.store, ws.lake, group_id=group_id, title=title, cause=cause, model=model,
            started_at=_time(start, "--start"), detected_at=_time(detected, "--detected"), playbook=playbook,
        )  # fmt: skip
    if json:
        print_json(inc.to_dict())
    else:
        _show(inc.to_dict(), f"incident {inc.id} opened")


@app.command("list")
def list_cmd(
    state: Annotated[
        str | None, typer.Option("--state", help="active, open, mitigated or resolved.", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Incidents, newest first, and every open action item."""
    from recops.respond.incidents import actions, list_incidents

    with Workspace.open(workspace) as ws:
        items = list_incidents(ws.store, state=state)
        open_actions = actions(ws.store, state="open")
    if json:
        print_json(
            {"incidents": [i.to_dict() for i in items], "open_actions": [a.to_dict() for a in open_actions]}
        )
        return
    for i in items:
        console.print(f"{i.id}  {i.state:<9} {i.started_at.isoformat()}  {escape(i.title)}", highlight=False)
    console.print(f"\nopen action items: {len(open_actions)}", highlight=False)
    for a in open_actions:
        console.print(
            f"  #{a.id} (incident {a.incident_id}) {escape(a.title)} -- {escape(a.owner)}", highlight=False
        )


@app.command("show")
def show_cmd(incident_id: IdArg, workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """An incident with its impact and timeline."""
    from recops.respond.impact import impact
    from recops.respond.incidents import actions, get_incident
    from recops.respond.timeline import timeline

    with Workspace.open(workspace) as ws:
        inc = get_incident(ws.store, incident_id)
        data = inc.to_dict()
        data["impact"] = impact(ws.lake, inc).to_dict()
        data["timeline"] = [e.to_dict() for e in timeline(ws.store, ws.lake, inc)]
        data["actions"] = [a.to_dict() for a in actions(ws.store, incident_id=inc.id)]
    if json:
        print_json(data)
        return
    _show({k: v for k, v in data.items() if not isinstance(v, list | dict)}, f"incident {inc.id}")
    imp = data["impact"]
    lost = ", ".join(
        f"{name} lost {imp[key]:.1f}" for name, key in (("clicks", "clicks_lost"), ("plays", "plays_lost"))
        if imp[key] is not None
    )  # fmt: skip
    console.print(
        f"impact: {imp['requests_affected']} requests affected over {imp['duration_s'] / 3600:.1f} h; {lost}",
        highlight=False,
    )
    for e in data["timeline"]:
        console.print(f"{e['at']}  {e['kind']:<9} {escape(e['text'])}", highlight=False)


@app.command("mitigate")
def mitigate_cmd(
    incident_id: IdArg, at: AtOption = None, note: NoteOption = None, workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:  # fmt: skip
    """Mark mitigated (default time: the implicated version's rollback, else when its alerts cleared)."""
    from recops.respond.incidents import mitigate

    with Workspace.open(workspace) as ws:
        inc = mitigate(ws.store, incident_id, at=_time(at, "--at"), note=note)
    print_json(inc.to_dict()) if json else _show(inc.to_dict(), f"incident {inc.id} mitigated")


@app.command("resolve")
def resolve_cmd(
    incident_id: IdArg, at: AtOption = None, note: NoteOption = None, workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:  # fmt: skip
    """Mark resolved (default time: when its alert group cleared, else now)."""
    from recops.respond.incidents import resolve

    with Workspace.open(workspace) as ws:
        inc = resolve(ws.store, incident_id, at=_time(at, "--at"), note=note)
    print_json(inc.to_dict()) if json else _show(inc.to_dict(), f"incident {inc.id} resolved")


@app.command("postmortem")
def postmortem_cmd(
    incident_id: IdArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Markdown file (default postmortems/incident-ID.md).")
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Owner of the action items it seeds.", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Write the incident's post-mortem in Markdown."""
    from recops.respond.postmortem import postmortem

    with Workspace.open(workspace) as ws:
        pm = postmortem(ws.store, ws.lake, ws.config, incident_id, owner=owner)
        path = out or ws.config.root / "postmortems" / f"incident-{incident_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pm.markdown, encoding="utf-8")
    if json:
        print_json({"path": str(path), **pm.to_dict()})
    else:
        console.print(f"wrote {escape(str(path))}", highlight=False)


@actions_app.command("add")
def action_add_cmd(
    incident_id: IdArg,
    title: Annotated[str, typer.Option("--title", help="What to do.", show_default=False)],
    owner: Annotated[str, typer.Option("--owner", help="Who owns it.", show_default=False)],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Add an action item to an incident."""
    from recops.respond.incidents import add_action

    with Workspace.open(workspace) as ws:
        a = add_action(ws.store, incident_id, title, owner)
    print_json(a.to_dict()) if json else _show(a.to_dict(), f"action item {a.id}")


@actions_app.command("close")
def action_close_cmd(
    action_id: Annotated[int, typer.Argument(help="Action item id.", show_default=False)],
    note: NoteOption = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Close an action item."""
    from recops.respond.incidents import close_action

    with Workspace.open(workspace) as ws:
        a = close_action(ws.store, action_id, note=note)
    print_json(a.to_dict()) if json else _show(a.to_dict(), f"action item {a.id} closed")
