"""``recops diagnose`` (rank the causes of an alert or a metric's move) and ``recops diff``."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json
from recops.diagnose.contribution import Period
from recops.errors import InvalidInput
from recops.lake.windows import parse_local_time
from recops.workspace import Workspace

TimeOption = Annotated[
    str | None,
    typer.Option(help="ISO 8601 time; a naive one is read in the workspace time zone.", show_default=False),
]


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose)
    app.command("diff")(diff)


def diagnose(
    alert: Annotated[
        int | None, typer.Option("--alert", help="Diagnose this alert (id).", show_default=False)
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option("--metric", help="Diagnose this metric's move (with --from/--to).", show_default=False),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start of the moved period.", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End of the moved period.", show_default=False)
    ] = None,
    subject: Annotated[
        str, typer.Option("--subject", help="The series' subject (feature, source, stage...).")
    ] = "",
    slice_: Annotated[str, typer.Option("--slice", help="The moved slice, e.g. device=android_tv.")] = "",
    granularity: Annotated[
        str | None,
        typer.Option("--granularity", help="hour or day (default: hour up to 2 days).", show_default=False),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="START..END to compare with (default: the week before).", show_default=False
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Hypotheses shown in the text output.", min=1)] = 10,
    alpha: Annotated[float, typer.Option("--alpha", help="Family-wise significance level.")] = 0.05,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Rank the likely causes of an alert or of a metric's move, with the evidence.

    `recops diagnose --alert 12` diagnoses an alert's first windows against the same hours
    a week earlier; `recops diagnose --metric ctr --from 2026-10-20T10:00 --to 2026-10-20T16:00`
    a move you saw yourself. Causes: slices, changes (deploys, rollbacks, config, feature
    pipelines), stale feature groups, drifted features, late or missing partitions, schema
    changes, stage latency, error/fallback/empty-slate rates, candidate sources, model decay.
    """
    from recops.diagnose.diagnose import diagnose_alert, diagnose_metric

    if (alert is None) == (metric is None):
        raise InvalidInput("give --alert ID or --metric NAME --from T --to T (one of them)")
    if metric is not None and (start is None or end is None):
        raise InvalidInput("--metric needs --from and --to")
    with Workspace.open(workspace) as ws:
        if alert is not None:
            result = diagnose_alert(ws.store, ws.lake, ws.config, alert, alpha=alpha)
        else:
            assert metric is not None and start is not None and end is not None
            zone = ws.config.zone
            chosen = _range(baseline, zone) if baseline else None
            result = diagnose_metric(
                ws.store, ws.lake, ws.config, metric,
                parse_local_time(start, zone), parse_local_time(end, zone),
                subject=subject, slice=slice_, granularity=granularity, baseline=chosen, alpha=alpha,
            )  # fmt: skip
    if json:
        print_json(result.to_json())
        return
    show_diagnosis(result.to_json(), top)


def show_diagnosis(data: dict[str, Any], top: int) -> None:
    """The diagnosis as an operator reads it: the move, then the ranked causes with their evidence."""
    from recops.diagnose.diagnose import entity_parts

    move = data["move"]
    console.print(f"[bold]{escape(data['headline'])}[/]")
    cur, base = move["current"], move["baseline"]
    console.print(
        f"[dim]{move['granularity']} windows {cur['start']} .. {cur['end']} against "
        f"{base['start']} .. {base['end']} ({data['baseline_kind']})[/]"
    )
    if data.get("alert"):
        a = data["alert"]
        console.print(f"[dim]alert {a['id']} ({a['detector']}, {a['severity']}): {escape(a['summary'])}[/]")
    table = Table(header_style="bold", show_lines=True)
    for name, style in (("#", "dim"), ("score", ""), ("kind", "cyan"), ("cause", "bold"), ("evidence", "")):
        table.add_column(name, style=style, overflow="fold")
    scored = [h for h in data["hypotheses"] if h["score"] > 0]
    shown = scored[:top]
    for i, h in enumerate(shown, 1):
        table.add_row(
            str(i),
            f"{h['score']:.2f}\n[dim]c {h['certainty']:.2f} · l {h['link']:.2f} · a {h['alignment']:.2f}[/]",
            h["kind"],
            escape("\n".join(entity_parts(h["entity"]))),
            escape(h["sentence"]),
        )
    if shown:
        console.print(table)
    else:
        console.print("no hypothesis scored above 0: nothing found that moved with it and before it")
    more, zero = len(scored) - len(shown), len(data["hypotheses"]) - len(scored)
    if more or zero:
        console.print(f"[dim]{more} more with --top, {zero} scored 0 (all in --json)[/]")
    for note in data["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"[dim]{data['points_read']:,} stored points read; {data['seconds']:.2f} s[/]")


def diff(
    metric: Annotated[
        str, typer.Option("--metric", help="The metric to compare by slice.", show_default=False)
    ],
    a: Annotated[
        str,
        typer.Option(
            "--a", help="Side A: START..END, or a model version (with --from/--to).", show_default=False
        ),
    ],
    b: Annotated[str, typer.Option("--b", help="Side B, the same way.", show_default=False)],
    start: Annotated[
        str | None, typer.Option("--from", help="Versions: start of the window.", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Versions: end of the window.", show_default=False)
    ] = None,
    subject: Annotated[str, typer.Option("--subject", help="The metric's subject, if it has one.")] = "",
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Compare two windows or two model versions: the metric by slice, the candidate-source mix,
    feature distributions (drift engine) and latency.

    `recops diff --metric ctr --a 2026-10-13..2026-10-14 --b 2026-10-20..2026-10-21` compares two
    days; `recops diff --metric ctr --a v12 --b v13 --from 2026-10-20 --to 2026-10-21` two versions
    serving side by side (a canary) over the same window.
    """
    from recops.diagnose.diff import diff_versions, diff_windows

    windows = ".." in a, ".." in b
    if windows[0] != windows[1]:
        raise InvalidInput("--a and --b must both be windows (START..END) or both be model versions")
    with Workspace.open(workspace) as ws:
        zone = ws.config.zone
        if windows[0]:
            if start is not None or end is not None:
                raise InvalidInput("--from/--to are for comparing versions; windows carry their own range")
            report = diff_windows(
                ws.store, ws.lake, ws.config, metric, _range(a, zone), _range(b, zone), subject=subject
            )
        else:
            if start is None or end is None:
                raise InvalidInput("comparing versions needs --from and --to (the window both served in)")
            period = Period(parse_local_time(start, zone), parse_local_time(end, zone))
            report = diff_versions(ws.store, ws.lake, ws.config, metric, a, b, period, subject=subject)
    data = report.to_json()
    if json:
        print_json(data)
        return
    show_diff(data)


def show_diff(data: dict[str, Any]) -> None:
    a, b = escape(data["a"]["label"]), escape(data["b"]["label"])
    console.print(f"[bold]{escape(data['metric'])}[/]: A = {a}, B = {b}")
    _table(
        f"{data['metric']} by slice ({data['metric_source']})",
        data["metric_by_slice"],
        [
            ("slice", "slice"),
            ("A", "a"),
            ("B", "b"),
            ("change", "relative_change"),
            ("z", "z"),
            ("explains", "explained_share"),
        ],
    )
    _table(
        "candidate-source mix (share of shown slots)",
        data["candidate_mix"],
        [("source", "source"), ("A", "a_share"), ("B", "b_share"), ("change", "change"), ("z", "z")],
    )
    _table(
        "feature distributions (drift engine, A as reference)",
        data["features"],
        [
            ("feature", "feature"),
            ("verdict", "verdict"),
            ("test", "test"),
            ("statistic", "statistic"),
            ("ratio", "drift_ratio"),
        ],
    )
    _table(
        "latency (ms)",
        data["latency"],
        [
            ("stage", "stage"),
            ("A p50", "a_p50_ms"),
            ("B p50", "b_p50_ms"),
            ("A p99", "a_p99_ms"),
            ("B p99", "b_p99_ms"),
            ("p99 change", "p99_change_ms"),
        ],
    )
    for note in data["notes"]:
        console.print(f"[yellow]note:[/] {escape(note)}")


def _table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    if not rows:
        console.print(f"[dim]{escape(title)}: nothing to compare[/]")
        return
    table = Table(title=title, header_style="bold")
    for name, _ in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*(_cell(row.get(key), key) for _, key in columns))
    console.print(table)


def _cell(value: Any, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if key in ("relative_change", "explained_share"):
            return f"{100 * value:+.1f}%" if key == "relative_change" else f"{100 * value:.0f}%"
        if key == "change":  # the candidate mix: a difference of two shares, in percentage points
            return f"{100 * value:+.3g} pp"
        if key.endswith("share"):
            return f"{100 * value:.3g}%"
        return f"{value:.4g}"
    return escape(str(value))


def _range(text: str, zone: Any) -> Period:
    """``START..END`` as a period; a date-only end covers that whole day (``2026-10-20..2026-10-20``)."""
    if ".." not in text:
        raise InvalidInput(f"expected START..END, got {text!r}")
    left, right = (part.strip() for part in text.split("..", 1))
    begin = parse_local_time(left, zone)
    finish = parse_local_time(right, zone)
    if len(right) == 10 and finish <= begin:  # a bare date as the end: the end of that day
        finish = finish + timedelta(days=1)
    return Period(begin.astimezone(UTC), finish.astimezone(UTC))
