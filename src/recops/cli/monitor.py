"""``recops monitor run|series``: compute the monitors and look at their series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json, print_table

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.progress import Progress, TaskID

    from recops.workspace import Workspace

app = typer.Typer(
    help=(
        "Compute monitors over the lake and read their series.\n\n"
        "`recops monitor run` computes every family (arrival, quality, freshness, drift, "
        "metrics, latency) for every complete window that is new or changed since the last "
        "run, per slice, and stores the points; `recops monitor series METRIC` shows them. "
        "Series are also in SQL: `recops sql \"SELECT * FROM metric_points WHERE metric = 'ctr'\"`."
    ),
    no_args_is_help=True,
)

FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help="Start (ISO time; a naive one is in the workspace time zone).", show_default=False
    ),
]
ToOption = Annotated[str | None, typer.Option("--to", help="End, exclusive (ISO time).", show_default=False)]


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="monitor")


@app.command("run")
def run(
    start: FromOption = None,
    end: ToOption = None,
    family: Annotated[
        list[str] | None,
        typer.Option("--family", "-f", help="Run only this family (repeatable).", show_default=False),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="duckdb or spark (default: [monitors] engine in recops.toml).", show_default=False),
    ] = None,
    detect: Annotated[
        bool,
        typer.Option(
            "--detect/--no-detect",
            help=(
                "Run detection and notify after computing (not with --family; "
                "[detection] enabled in recops.toml)."
            ),
        ),
    ] = True,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Compute every monitor for the complete windows that need it, then detect and notify.

    After the windows, the detectors judge every window not judged before (`recops alerts
    plan` lists which detector judges which metric), open and resolve alerts, check the
    dead man's switch for data, and deliver notifications (notify.yaml).

    Without --from/--to only new or changed windows are computed (new batches, windows
    that closed since the last run, windows whose late outcomes arrived); running it
    again with nothing new does nothing. With --from/--to the range is recomputed.

    Example: recops monitor run --from 2026-10-01 --to 2026-10-08 --family latency
    """
    from recops.lake.windows import parse_local_range
    from recops.monitors import run_monitors
    from recops.monitors.engine import open_engine
    from recops.workspace import Workspace

    with Workspace.open(workspace) as ws:
        zone = ws.config.zone
        lo, hi = parse_local_range(start, end, zone)
        chosen = engine or ws.config.monitors.engine
        opened = open_engine(chosen, ws.lake, memory_limit=ws.config.monitors.memory_limit)
        try:
            with _Bar(enabled=not json) as bar:
                report = run_monitors(
                    ws.config, ws.lake, start=lo, end=hi, engine=opened, only=family, progress=bar.update
                )
        finally:
            opened.close()
        cycle = None
        if detect and ws.config.detection.enabled and family is None:
            from recops.detect.cycle import detection_cycle

            with _Bar(enabled=not json) as bar:
                cycle = detection_cycle(
                    ws.store, ws.config, rejudge_from=lo, progress=bar.update, lake=ws.lake
                )
    skipped = None
    if detect and cycle is None:
        skipped = (
            "--family computes part of the monitors; a full `recops monitor run` judges them"
            if family is not None
            else "[detection] enabled is false in recops.toml"
        )
    if json:
        detection = cycle.to_json() if cycle else None
        print_json({**report.to_json(), "detection": detection, "detection_skipped": skipped})
        return
    if report.nothing_to_do:
        console.print(f"Nothing to compute: {report.reason}.")
    else:
        windows = ", ".join(f"{n} {g}" for g, n in report.windows.items() if n)
        total = sum(report.points.values())
        console.print(
            f"Computed {windows} windows on {report.engine}: {total:,} points "
            f"({', '.join(f'{k} {v:,}' for k, v in report.points.items())}) in {report.seconds:.1f} s."
        )
    if cycle is not None:
        d = cycle.detection
        tripped = [s for s in cycle.silences if s.tripped]
        console.print(
            f"Detection: {d.series:,} series judged; alerts {d.opened} opened, {d.updated} updated, "
            f"{d.resolved} resolved in {d.seconds:.1f} s"
            + (f"; {len(tripped)} silent data feeds" if tripped else "")
            + (f"; {cycle.delivery.pending} notifications pending" if cycle.delivery.pending else "")
            + ". See `recops alerts list`."
        )
    elif skipped is not None:
        console.print(f"Detection skipped: {skipped}.", highlight=False)


@app.command("series")
def series(
    metric: Annotated[
        str, typer.Argument(help="Metric name (see `recops metrics list`).", show_default=False)
    ],
    subject: Annotated[
        str | None, typer.Option(help="Feature, group, source, stage... ('' for none).", show_default=False)
    ] = None,
    slice_: Annotated[
        str, typer.Option("--slice", help="'' for all traffic, or KEY=VALUE (e.g. device=tv).")
    ] = "",
    granularity: Annotated[str, typer.Option(help="5min, hour or day.")] = "day",
    start: FromOption = None,
    end: ToOption = None,
    last: Annotated[int, typer.Option(min=1, help="Show at most the last N windows.")] = 30,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Show a stored series: one row per window.

    Example: recops monitor series ctr --slice device=android_tv --granularity day
    """
    from recops.lake.windows import parse_local_range
    from recops.monitors import read_series
    from recops.workspace import Workspace

    with Workspace.open(workspace) as ws:
        zone = ws.config.zone
        _check_series_arguments(ws, metric, slice_, granularity)
        low, high = parse_local_range(start, end, zone)
        table = read_series(
            ws.store,
            metric,
            subject=subject if subject is not None else _default_subject(ws.store, metric),
            slice=slice_,
            granularity=granularity,
            start=low,
            end=high,
        )
    if table.num_rows > last:
        table = table.slice(table.num_rows - last)
    columns = ["subject", "window_start", "value", "numerator", "denominator", "n", "label_completeness"]
    shown: pa.Table = table.select(columns)
    if json:
        print_json([_row(r) for r in shown.to_pylist()])
        return
    if not table.num_rows:
        err_console.print(
            f"No points for {metric!r} (slice {slice_!r}, {granularity}). Run `recops monitor run`?"
        )
        raise typer.Exit(1)
    title = f"{metric} · {slice_ or 'all traffic'} · {granularity} (times in {zone.key})"
    print_table(_readable(shown, zone), title=title)


def _check_series_arguments(ws: Workspace, metric: str, slice_: str, granularity: str) -> None:
    """Refuse what cannot name a stored series, rather than report it has no points.

    Raises:
        InvalidInput: an unknown metric or granularity, or a slice that is not KEY=VALUE.
    """
    from recops.catalog import load_catalog
    from recops.errors import InvalidInput
    from recops.monitors.windowing import parse_granularities

    load_catalog(ws.config.root).get(metric)  # names the metric and suggests close ones
    config = ws.config
    names = [g.name for g in parse_granularities(config.serving_window_minutes, config.windows, config.zone)]
    if granularity not in names:
        raise InvalidInput(f"unknown granularity {granularity!r}; this workspace computes {', '.join(names)}")
    if slice_ and not all(part.count("=") == 1 for part in slice_.split(",")):
        raise InvalidInput(f"--slice takes KEY=VALUE (e.g. device=tv), or '' for all traffic; got {slice_!r}")


def _default_subject(store: Any, metric: str) -> str | None:
    """``""`` when the metric has an all-subjects series (end-to-end latency), else every subject."""
    from sqlalchemy import select

    from recops.store.tables import MetricPointRow

    with store.session() as session:
        found = session.scalar(
            select(MetricPointRow.subject)
            .where(MetricPointRow.metric == metric, MetricPointRow.subject == "")
            .limit(1)
        )
    return "" if found is not None else None


def _readable(table: pa.Table, zone: Any) -> pa.Table:
    """Local window starts and rounded numbers for people."""
    import pyarrow as pa

    starts = [t.astimezone(zone).strftime("%Y-%m-%d %H:%M") for t in table["window_start"].to_pylist()]
    out = table.set_column(table.column_names.index("window_start"), "window", pa.array(starts))
    for name in ("value", "numerator", "denominator", "label_completeness"):
        # six digits for values: a burn ratio of 1.00019 is past "above 1", and 4 would print 1
        digits = 6 if name == "value" else 4
        values = [None if v is None else float(f"{v:.{digits}g}") for v in out[name].to_pylist()]
        out = out.set_column(out.column_names.index(name), name, pa.array(values, pa.float64()))
    if set(out["subject"].to_pylist()) == {""}:
        out = out.drop_columns(["subject"])
    empty = [
        c for c in ("numerator", "denominator", "label_completeness") if out[c].null_count == out.num_rows
    ]
    return out.drop_columns(empty)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


class _Bar:
    """A progress bar whose total is learned from the first update."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _Bar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=not self.enabled,
        )
        self.progress.__enter__()
        self.task = self.progress.add_task("monitors", total=None)
        return self

    def update(self, step: str, done: int, total: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=step, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)


@app.command("crossings")
def crossings_cmd(
    start: FromOption = None,
    end: ToOption = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Only this metric (repeatable).", show_default=False),
    ] = None,
    granularity: Annotated[
        str | None, typer.Option(help="Only this window size (5min, hour, day).", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """List stored points past their metric's default threshold (see `recops metrics list`).

    Exit code 1 when any point crosses, so a script or CI job can gate on it.

    Example: recops monitor crossings --from 2026-10-20 --granularity day
    """
    from recops.catalog import load_catalog
    from recops.lake.windows import parse_local_range
    from recops.monitors.thresholds import crossings
    from recops.workspace import Workspace

    with Workspace.open(workspace) as ws:
        zone = ws.config.zone
        low, high = parse_local_range(start, end, zone)
        found = crossings(
            ws.store,
            load_catalog(ws.config.root),
            ws.config.slo,
            zone,
            metrics=metric,
            start=low,
            end=high,
            granularity=granularity,
        )
    if json:
        print_json([c.to_json() for c in found])
    elif not found:
        console.print("No point crosses its default threshold.")
    else:
        import pyarrow as pa

        rows = {
            "window": [c.window_start.astimezone(zone).strftime("%Y-%m-%d %H:%M") for c in found],
            "granularity": [c.granularity for c in found],
            "metric": [c.metric for c in found],
            "subject": [c.subject for c in found],
            "slice": [c.slice or "all" for c in found],
            "value": [float(f"{c.value:.4g}") for c in found],
            "threshold": [c.threshold for c in found],
            "baseline": [None if c.baseline is None else float(f"{c.baseline:.4g}") for c in found],
        }
        print_table(pa.table(rows), title=f"{len(found)} points past their threshold (times in {zone.key})")
    if found:
        raise typer.Exit(1)
