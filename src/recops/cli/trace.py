"""``recops trace REQUEST_ID`` | ``recops trace --user USER --at TIME``: what happened to one request."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json
from recops.diagnose.trace import RequestTrace, trace_request, trace_user_at
from recops.errors import InvalidInput
from recops.lake.windows import parse_local_time
from recops.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("trace")(trace)


def trace(
    request_id: Annotated[
        str | None,
        typer.Argument(metavar="REQUEST_ID", help="The request to trace.", show_default=False),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Find the request by user id (with --at).", show_default=False),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="With --user: the user's latest request at or before this time "
            "(ISO 8601; a naive time is read in the workspace time zone).",
            show_default=False,
        ),
    ] = None,
    outcome_hours: Annotated[
        float | None,
        typer.Option(
            "--outcome-hours",
            help="Look for outcomes this long after the request (default: [monitors] label_window_hours).",
            show_default=False,
            min=0,
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """What happened to one request: context, model and lineage, candidates by source, the slate,
    features with their age against the TTL, stage latencies and the outcomes that followed.

    `recops trace req_9b3b…` traces by id; `recops trace --user u_12ab --at 2026-10-05T21:30`
    traces the user's latest request at or before that time.
    """
    if (request_id is None) == (user is None):
        raise InvalidInput("give REQUEST_ID or --user USER --at TIME (one of them)")
    if (user is None) != (at is None):
        raise InvalidInput("--user and --at go together")
    with Workspace.open(workspace) as ws:
        if request_id is not None:
            result = trace_request(ws.config, ws.lake, request_id, outcome_hours=outcome_hours)
        else:
            assert user is not None and at is not None
            when = parse_local_time(at, ws.config.zone)
            result = trace_user_at(ws.config, ws.lake, user, when, outcome_hours=outcome_hours)
    if json:
        print_json(result.to_json())
    else:
        show(result)


def _num(x: float | None, digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def _flag(bad: bool | None, bad_text: str, good_text: str = "ok") -> str:
    if bad is None:
        return "[dim]n/a[/]"
    return f"[bold red]{bad_text}[/]" if bad else f"[green]{good_text}[/]"


def _time(iso: str | None) -> str:
    """A UTC ISO time, shorter: ``2026-10-05 21:30:01.5Z``."""
    if iso is None:
        return ""
    text = iso.replace("T", " ")
    if "." in text:
        whole, fraction = text[:-1].split(".")
        fraction = fraction.rstrip("0")
        text = f"{whole}.{fraction}Z" if fraction else f"{whole}Z"
    return text


def show(t: RequestTrace) -> None:
    """Print a trace as Rich panels and tables, in the order an operator reads it."""
    console.print(_context_panel(t))
    console.print(_sources_table(t))
    console.print(_slate_table(t))
    console.print(Group(_groups_table(t), _features_table(t)))
    console.print(_latency_table(t))
    console.print(_outcomes_table(t))
    for w in t.warnings:
        console.print(f"[yellow]note:[/] {escape(w)}")
    lookup = t.lookup
    console.print(
        f"[dim]found by {lookup.by} in {lookup.rounds} round(s) over {len(lookup.partitions_searched)} "
        f"date partition(s), {lookup.files_searched} file(s)[/]"
    )


def _context_panel(t: RequestTrace) -> Panel:
    status = {"ok": "green", "fallback": "yellow", "error": "bold red"}.get(t.status, "white")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("request", escape(t.request_id))
    grid.add_row("served", f"{_time(t.to_json()['ts'])} on {escape(t.surface)}")
    grid.add_row("user", escape(t.user_id))
    grid.add_row("status", f"[{status}]{t.status}[/]")
    grid.add_row("context", escape(", ".join(f"{k}={v}" for k, v in sorted(t.context.items()))) or "-")
    m = t.model
    if m.registered:
        at_serve = ", ".join(m.aliases_at_serve) or "no alias"
        grid.add_row("model", f"{escape(m.ref)}  (named by {escape(at_serve)} when served)")
    else:
        grid.add_row("model", f"{escape(m.ref)}  [yellow]not in the registry[/]")
    grid.add_row("lineage", f"[cyan]{escape(m.lineage_command)}[/]")
    for ds in (m.lineage or {}).get("datasets", []):
        upstream = "; ".join(ds["upstream"]) or "no upstream recorded"
        grid.add_row("", escape(f"trained on {ds['name'] or ds['digest']}: {upstream}"))
    if t.stale_groups:
        grid.add_row("[red]stale[/]", f"[bold red]{escape(', '.join(t.stale_groups))}[/]")
    over = [s.stage for s in t.stages if s.over_slo]
    if over:
        grid.add_row("[red]over SLO[/]", f"[bold red]{escape(', '.join(over))}[/]")
    return Panel(grid, title="request", title_align="left")


def _sources_table(t: RequestTrace) -> Table:
    table = Table(title=f"candidates by source ({len(t.candidates)})", title_justify="left")
    table.add_column("source")
    for name in ("rank", "item", "score", "position", "propensity"):
        table.add_column(name, justify="left" if name == "item" else "right")
    for group in t.by_source:
        table.add_section()
        for i, c in enumerate(group.candidates):
            label = (
                f"[bold]{escape(group.source)}[/] {len(group.candidates)}, {group.shown} shown"
                if i == 0
                else ""
            )
            position = "" if c.position is None else str(c.position)
            table.add_row(label, str(c.rank), escape(c.item_id), _num(c.score), position, _num(c.propensity))
    return table


def _slate_table(t: RequestTrace) -> Table:
    table = Table(title=f"slate shown ({len(t.slate)})", title_justify="left")
    for name in ("position", "item", "source", "score", "impressed", "then"):
        table.add_column(name)
    for s in t.slate:
        table.add_row(
            str(s.position),
            escape(s.item_id),
            escape(s.source),
            _num(s.score),
            "yes" if s.impressed else "[yellow]no[/]",
            escape(", ".join(e for e in s.events if e != "impression")),
        )
    return table


def _groups_table(t: RequestTrace) -> Table:
    table = Table(title="feature groups: age at serve time vs TTL", title_justify="left")
    for name in ("group", "as of", "age (h)", "TTL (h)", "", "features"):
        table.add_column(name)
    for g in t.feature_groups:
        if not g.looked_up:
            table.add_row(escape(g.group), "[dim]not looked up[/]", "", _num(g.ttl_hours), "", "")
            continue
        verdict = "[dim]no TTL[/]" if g.stale is None else _flag(g.stale, "STALE", "fresh")
        as_of = _time(g.to_json()["feature_ts"]) or "[red]not found[/]"
        age = _num(g.age_hours)
        table.add_row(escape(g.group), as_of, age, _num(g.ttl_hours), verdict, escape(", ".join(g.features)))
    return table


def _features_table(t: RequestTrace) -> Table:
    table = Table(title=f"features the ranker saw ({len(t.features)})", title_justify="left")
    for name in ("feature", "value", "group"):
        table.add_column(name)
    stale = set(t.stale_groups)
    for f in t.features:
        group = escape(f.group or "")
        if f.group in stale:
            group = f"[bold red]{group} (STALE)[/]"
        value = "[dim]null[/]" if f.value is None else escape(str(f.value))
        table.add_row(escape(f.name), value, group)
    return table


def _latency_table(t: RequestTrace) -> Table:
    table = Table(title="latency (ms)", title_justify="left")
    for name in ("stage", "ms", "SLO", ""):
        table.add_column(name)
    for s in t.stages:
        target = f"{s.slo_ms:g} ({s.slo_key})" if s.slo_ms is not None else "[dim]none[/]"
        table.add_row(escape(s.stage), _num(s.ms, 6), target, _flag(s.over_slo, "OVER"))
    return table


def _outcomes_table(t: RequestTrace) -> Table:
    window = t.to_json()["outcome_window"]
    title = f"outcomes ({len(t.outcomes)}, {_time(window['start'])} … {_time(window['end'])})"
    table = Table(title=title, title_justify="left")
    for name in ("after (s)", "event", "item", "position", "source", "value"):
        table.add_column(name)
    for o in t.outcomes:
        item = escape(o.item_id) + ("" if o.in_candidates else " [yellow](not a candidate)[/]")
        position = "" if o.position is None else str(o.position)
        table.add_row(
            f"{o.delay_seconds:.1f}", escape(o.event), item, position, escape(o.source or ""), _num(o.value)
        )
    return table
