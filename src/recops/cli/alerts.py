"""``recops alerts ...``: list, show, ack, resolve, silence, deliver, outbox, export-prometheus."""

from __future__ import annotations

import fnmatch
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json, print_pairs, print_rows
from recops.detect import alerts as alert_lib
from recops.detect import routing, silences
from recops.detect.events import iso
from recops.detect.prometheus import write_prometheus
from recops.detect.routes import NOTIFY_FILE, load_routes
from recops.errors import CheckFailed
from recops.workspace import Workspace

app = typer.Typer(
    help="Alerts: list, acknowledge, resolve, silence; deliver notifications; export to Prometheus.",
    no_args_is_help=True,
)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="alerts")


StateOption = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="firing, acknowledged, resolved, or open (firing or acknowledged).",
        show_default=False,
    ),
]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why (kept with the alert and audited).")]
TargetArgument = Annotated[
    str, typer.Argument(metavar="ID", help="An alert id (12) or a group id (g3).", show_default=False)
]


def _actor() -> str:
    from recops.registry.versions import default_actor  # the registry only when someone acts

    return default_actor()


def _alert_rows(items: list[alert_lib.Alert]) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "state": a.state + (" (silenced)" if a.silenced else ""),
            "severity": a.severity,
            "group": f"g{a.group_id}",
            "detector": a.detector,
            "metric": a.metric,
            "subject": a.subject,
            "slice": a.slice,
            "data time": iso(a.data_time),
            "raised": iso(a.raised_at),
            "summary": a.summary,
        }
        for a in items
    ]


ALERT_COLUMNS = [
    *"id state severity group detector metric subject slice".split(),
    "data time",
    "raised",
    "summary",
]


@app.command("list")
def list_cmd(
    state: StateOption = None,
    group: Annotated[bool, typer.Option("--group", help="List alert groups instead of alerts.")] = False,
    metric: Annotated[
        str | None, typer.Option(help="Only alerts on this metric.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    fail_on_firing: Annotated[
        bool, typer.Option("--fail-on-firing", help="Exit with code 1 when any alert is firing.")
    ] = False,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Alerts (or groups with --group), newest first.

    Example: recops alerts list --state firing --json
    """
    with Workspace.open(workspace) as ws:
        firing = len(alert_lib.list_alerts(ws.store, state="firing")) if fail_on_firing else 0
        if group:
            groups = alert_lib.list_groups(ws.store, state=state, limit=limit)
        else:
            items = alert_lib.list_alerts(ws.store, state=state, metric=metric, limit=limit)
    if group:
        if json:
            print_json([g.to_dict() for g in groups])
        else:
            print_rows(
                [
                    {
                        "group": f"g{g.id}",
                        "state": g.state,
                        "severity": g.severity,
                        "cause": g.cause,
                        "alerts": f"{len(g.open_members)} open / {len(g.members)}",
                        "data time": f"{iso(g.first_data_time)} … {iso(g.last_data_time)}",
                        "raised": iso(g.raised_at),
                    }
                    for g in groups
                ],
                ["group", "state", "severity", "cause", "alerts", "data time", "raised"],
                "alert groups",
            )
    elif json:
        print_json([a.to_dict() for a in items])
    else:
        print_rows(_alert_rows(items), ALERT_COLUMNS, "alerts")
    if fail_on_firing and firing:
        raise CheckFailed(f"{firing} alert{'s' if firing != 1 else ''} firing")


@app.command("show")
def show_cmd(target: TargetArgument, workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """One alert (or group): its evidence, lifecycle events and notifications."""
    scope, ident = alert_lib.parse_target(target)
    with Workspace.open(workspace) as ws:
        if scope == "group":
            group = alert_lib.get_group(ws.store, ident)
            members = alert_lib.list_alerts(ws.store, group_id=ident)
            events = alert_lib.events_of(ws.store, group_id=ident)
            info: dict[str, Any] = {**group.to_dict(), "alerts": [a.to_dict() for a in members]}
        else:
            alert = alert_lib.get_alert(ws.store, ident)
            events = alert_lib.events_of(ws.store, alert_id=ident)
            info = alert.to_dict()
        sent = routing.outbox(ws.store, keys=[e.idempotency_key for e in events], limit=None)
    info["events"] = [e.to_dict() for e in events]
    info["notifications"] = [n.to_dict() for n in sent]
    if json:
        print_json(info)
        return
    if scope == "group":
        keys = ["id", "state", "severity", "cause", "cause_keys", "first_data_time", "last_data_time",
                "raised_at", "resolved_at"]  # fmt: skip
        print_pairs([(k, info[k]) for k in keys], title=f"alert group g{ident}")
        print_rows(_alert_rows(members), ALERT_COLUMNS, "alerts")
    else:
        keys = (
            "id state severity group_id detector metric subject subject_kind slice granularity summary "
            "evidence data_time last_data_time resolved_data_time raised_at acknowledged_at "
            "acknowledged_by resolved_at resolved_by note silence_id"
        ).split()
        print_pairs([(k, info[k]) for k in keys], title=f"alert {ident}")
    print_rows(
        [{**e.to_dict(), "alert": e.alert_id} for e in events],
        ["seq", "scope", "alert", "kind", "at", "data_time", "actor", "severity", "silenced", "note"],
        "events",
    )
    print_rows(
        [n.to_dict() for n in sent],
        ["route", "event", "state", "attempts", "last_status", "last_error", "delivered_at"],
        "notifications",
    )


def _acted(items: list[alert_lib.Alert], verb: str, json: bool) -> None:
    if json:
        print_json([a.to_dict() for a in items])
        return
    for a in items:
        console.print(
            f"alert {a.id} {verb} ({a.metric}{' ' + a.subject if a.subject else ''})", highlight=False
        )


@app.command("ack")
def ack_cmd(
    target: TargetArgument,
    note: NoteOption = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Acknowledge a firing alert, or every firing alert of a group (g3)."""
    with Workspace.open(workspace) as ws:
        items = alert_lib.acknowledge(ws.store, target, actor=_actor(), note=note)
        routing.dispatch(ws.store, load_routes(ws.config.root))
    _acted(items, "acknowledged", json)


@app.command("resolve")
def resolve_cmd(
    target: TargetArgument,
    note: NoteOption = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Resolve an open alert, or every open alert of a group, by hand.

    If the condition still holds, the next `monitor run` raises a new alert; to quiet an
    alert while you work on it, ack or silence it instead.
    """
    with Workspace.open(workspace) as ws:
        items = alert_lib.resolve(ws.store, target, actor=_actor(), note=note)
        routing.dispatch(ws.store, load_routes(ws.config.root))
    _acted(items, "resolved", json)


@app.command("silence")
def silence_cmd(
    metric: Annotated[str, typer.Option("--metric", help="Metric name or glob (ctr, feature_*, *).")],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d, 1h30m.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to whoever is paged next).")],
    subject: Annotated[str, typer.Option("--subject", help="Subject glob.")] = "*",
    slice_: Annotated[str, typer.Option("--slice", help="Slice glob (surface=home, model_version=*).")] = "*",
    detector: Annotated[str, typer.Option("--detector", help="Detector glob.")] = "*",
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Stop routing alerts that match, until the silence expires. They are still stored.

    Example: recops alerts silence --metric 'feature_*' --subject 'user_profile*' --for 2h --reason "backfill"
    """
    from recops.catalog import load_catalog

    length = silences.parse_duration(duration)
    with Workspace.open(workspace) as ws:
        made = silences.create_silence(
            ws.store,
            metric=metric,
            subject=subject,
            slice=slice_,
            detector=detector,
            duration=length,
            reason=reason,
            actor=_actor(),
        )
        known = load_catalog(ws.config.root).names()
    if not fnmatch.filter(known, metric):
        err_console.print(
            f"warning: no metric of the catalog matches {metric!r} (`recops metrics list`); "
            "the silence holds for any series of that name",
            highlight=False,
        )
    if json:
        print_json(made.to_dict())
    else:
        console.print(
            f"silence {made.id}: {made.metric} / {made.subject} / {made.slice} until {iso(made.expires_at)}",
            highlight=False,
        )


@app.command("silences")
def silences_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include ended silences.")] = False,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Silences in force (and future ones), newest first."""
    with Workspace.open(workspace) as ws:
        items = silences.list_silences(ws.store, include_ended=all_)
    rows = [s.to_dict() for s in items]
    if json:
        print_json(rows)
        return
    print_rows(
        rows,
        [
            "id",
            "active",
            "detector",
            "metric",
            "subject",
            "slice",
            "starts_at",
            "expires_at",
            "created_by",
            "reason",
        ],
        "silences",
    )


@app.command("unsilence")
def unsilence_cmd(
    silence_id: Annotated[int, typer.Argument(metavar="SILENCE_ID", show_default=False)],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """End a silence now; alerts it held that are still open are notified."""
    with Workspace.open(workspace) as ws:
        ended = silences.expire_silence(ws.store, silence_id, actor=_actor())
        routing.dispatch(ws.store, load_routes(ws.config.root))
    if json:
        print_json(ended.to_dict())
    else:
        console.print(f"silence {ended.id} ended")


@app.command("deliver")
def deliver_cmd(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """Send every pending notification now, ignoring backoff (routes from notify.yaml).

    `recops monitor run` does the same after each detection pass, respecting backoff.
    """
    with Workspace.open(workspace) as ws:
        routes = load_routes(ws.config.root)
        report = routing.dispatch(ws.store, routes, force=True)
    if json:
        print_json(report.to_dict())
        return
    if not routes:
        console.print(f"no routes: add {NOTIFY_FILE} to the workspace (docs/detection.md)")
    print_rows(
        [r.to_dict() for r in report.routes],
        ["route", "attempted", "delivered", "failed", "rejected", "pending", "last_error", "next_attempt_at"],
        "delivery",
    )
    for name, count in report.orphaned.items():
        console.print(
            f"[yellow]{count} notifications wait for route {name!r}, which {NOTIFY_FILE} no longer has[/]"
        )


@app.command("outbox")
def outbox_cmd(
    state: Annotated[
        str | None, typer.Option(help="pending, delivered or rejected.", show_default=False)
    ] = None,
    route: Annotated[str | None, typer.Option(help="Only this route.", show_default=False)] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """The notification outbox and what each delivery attempt got."""
    with Workspace.open(workspace) as ws:
        entries = routing.outbox(ws.store, state=state, route=route, limit=limit)
    rows = [e.to_dict() for e in entries]
    if json:
        print_json(rows)
        return
    print_rows(
        rows,
        ["id", "route", "event", "alert_id", "group_id", "state", "attempts", "last_status", "last_error",
         "next_attempt_at", "delivered_at", "idempotency_key"],
        "outbox",
    )  # fmt: skip


@app.command("routes")
def routes_cmd(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """The notification routes of notify.yaml (secrets not shown), after checking the file."""
    with Workspace.open(workspace) as ws:
        routes = load_routes(ws.config.root)
    rows = [r.describe() for r in routes]
    if json:
        print_json({"file": str(routes.path) if routes.path else None, "routes": rows,
                    "retry": asdict(routes.retry)})  # fmt: skip
        return
    if routes.path is None:
        console.print(f"no {NOTIFY_FILE} in the workspace: alerts are stored but not sent")
        return
    print_rows(
        rows, ["name", "type", "url", "min_severity", "scope", "headers", "routing_key"], str(routes.path)
    )


@app.command("export-prometheus")
def export_prometheus_cmd(
    path: Annotated[
        Path, typer.Argument(metavar="FILE", help="Where to write (atomically).", show_default=False)
    ],
    granularity: Annotated[
        list[str] | None,
        typer.Option(
            "--granularity", help="Only series of this window size (repeatable).", show_default=False
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Write series values and alert states in the Prometheus text format.

    Point node_exporter's textfile collector at the folder (FILE must end in .prom there),
    and run this after each `monitor run`; the server will serve the same at /metrics.
    """
    with Workspace.open(workspace) as ws:
        samples = write_prometheus(ws.store, path, granularities=granularity or None)
    if json:
        print_json({"file": str(path), "samples": samples})
    else:
        console.print(f"wrote {samples} samples to {path}")


@app.command("plan")
def plan_cmd(
    metric: Annotated[
        str | None, typer.Argument(help="Only this metric (default all).", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Which detector judges which metric, on which windows, raising what, and why.

    The plan follows from the metric catalog (thresholds, SLOs, directions); see
    docs/detection.md. Example: recops alerts plan ctr
    """
    from recops.catalog import load_catalog
    from recops.detect.plan import default_plan

    with Workspace.open(workspace) as ws:
        catalog = load_catalog(ws.config.root)
        if metric is not None:
            catalog.get(metric)  # a clear error for an unknown metric
        plan = default_plan(catalog, ws.config)
    rows = [
        {"metric": name, **spec.to_json()}
        for name in plan.metrics
        if metric is None or name == metric
        for spec in plan.for_metric(name)
    ]
    if json:
        print_json(rows)
        return
    print_rows(rows, ["metric", "detector", "granularity", "alarm", "warn", "reason"], "detection plan")


@app.command("deadman")
def deadman_cmd(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """The dead man's switch: alert if data stopped arriving or `monitor run` stopped running.

    Run it on its own schedule (cron, every 15 minutes), apart from `monitor run`: a
    stopped monitor cannot report itself. Exit code 1 when a clock is past its limit.
    Limits: [detection] data_silence_minutes and monitor_silence_minutes in recops.toml.
    """
    from recops.detect.deadman import check_deadman

    with Workspace.open(workspace) as ws:
        measured, _, _ = check_deadman(ws.store, ws.config)
        routing.dispatch(ws.store, load_routes(ws.config.root))
    rows = [s.to_json() for s in measured]
    if json:
        print_json(rows)
    else:
        print_rows(
            rows,
            ["metric", "subject", "last", "quiet_minutes", "limit_minutes", "tripped"],
            "dead man's switch",
        )
    if any(s.tripped for s in measured):
        raise typer.Exit(1)
