"""``recops drift REFERENCE [CURRENT]``: column-by-column distribution drift between two datasets.

Thin: parse, call ``recops.drift``, print. The drift engine is imported when the command
runs, not when the CLI starts.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json, print_table, progress_bar
from recops.errors import CheckFailed, InvalidInput

if TYPE_CHECKING:
    import duckdb

    from recops.drift import DriftReport, Rules

INPUT_HELP = (
    "Parquet, CSV or JSON Lines file, folder or glob; a stored profile (.json); "
    "or 'sql:SELECT ...' over the workspace lake."
)


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)


def drift(
    reference: Annotated[str, typer.Argument(help="The reference window. " + INPUT_HELP, show_default=False)],
    current: Annotated[
        str | None,
        typer.Argument(help="The current window (omit to only --save-profile).", show_default=False),
    ] = None,
    columns: Annotated[
        list[str] | None, typer.Option("--columns", "-c", help="Compare only these (comma-separated).")
    ] = None,
    categorical: Annotated[
        list[str] | None, typer.Option(help="Compare these numeric columns as categories (ids, codes).")
    ] = None,
    segment: Annotated[
        str | None, typer.Option(help="Also compare within each value of this column (e.g. device, country).")
    ] = None,
    max_segments: Annotated[int, typer.Option(help="Track at most this many segment values.")] = 50,
    test: Annotated[
        list[str] | None,
        typer.Option(help="Deciding test per kind, KIND=STAT (numeric=ks, categorical=chisquare, ...)."),
    ] = None,
    threshold: Annotated[
        list[str] | None, typer.Option(help="Override a threshold, STAT=VALUE (e.g. wasserstein=0.2).")
    ] = None,
    top_k: Annotated[int, typer.Option(help="Categories tracked per categorical column.")] = 20,
    exact: Annotated[
        bool, typer.Option(help="Exact KS and Wasserstein (one bin per distinct value; slower, more memory).")
    ] = False,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")] = None,
    save_profile: Annotated[
        Path | None, typer.Option(help="Store the reference's profile here (JSON), to compare against later.")
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit with code 1 when drift is found (for CI).")
    ] = False,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Compare two datasets column by column: test, statistic, threshold, verdict.

    Numeric columns are judged by the Wasserstein distance in reference standard
    deviations, categorical ones by the Jensen–Shannon distance over the reference's top
    values; every column also by its null rate. Verdicts rest on effect sizes, so a big
    window does not make trivial differences "significant"; windows too small to judge
    say "insufficient data". Exit code 1 with --fail-on-drift when drift is found.

    Examples:
      recops drift ref.parquet today.parquet --html drift.html ;
      recops drift ref.parquet --save-profile ref.profile.json ;
      recops drift ref.profile.json "sql:SELECT latency_ms FROM requests WHERE ts >= now() - INTERVAL 1 DAY"
    """
    from recops import drift as engine

    rules = _rules(test, threshold, top_k)
    names = _split(columns)
    forced = _split(categorical) or []
    with ExitStack() as stack:
        sql = _sql_opener(stack, workspace)
        ref = engine.open_input(reference, sql=sql)
        cur = engine.open_input(current, sql=sql) if current is not None else None
        with progress_bar("drift", 0, enabled=not json and sys.stderr.isatty()) as bar:
            task = bar.task_ids[0]

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if cur is None:
                if save_profile is None:
                    raise InvalidInput("give CURRENT to compare with, or --save-profile FILE to only profile")
                stored = engine.profile(
                    ref, columns=names, categorical=forced, segment=segment, top_k=top_k,
                    max_segments=max_segments, progress=progress,
                )  # fmt: skip
                stored.save(save_profile)
                _print_profile_only(stored, save_profile, json)
                return
            report = engine.compare(
                ref, cur, columns=names, categorical=forced, segment=segment, rules=rules, exact=exact,
                max_segments=max_segments, keep_sketches=save_profile is not None, progress=progress,
            )  # fmt: skip
    written: dict[str, str] = {}
    if save_profile is not None and report.reference_profile is not None:
        written["profile"] = str(report.reference_profile.save(save_profile))
    if html is not None:
        from recops.drift.html import write_html

        written["html"] = str(write_html(report, html))
    if json:
        print_json({**report.to_dict(), **written})
    else:
        _print_report(report, written)
    if fail_on_drift and report.drift_found:
        raise CheckFailed(_failure(report))


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _rules(tests: list[str] | None, thresholds: list[str] | None, top_k: int) -> Rules:
    from recops.drift import Rules

    chosen: dict[str, str] = {}
    for item in tests or []:
        kind, _, name = item.partition("=")
        if not name:
            raise InvalidInput(f"--test {item}: expected KIND=STAT, e.g. numeric=ks")
        chosen[kind.strip()] = name.strip()
    limits: dict[str, float] = {}
    for item in thresholds or []:
        name, _, value = item.partition("=")
        try:
            limits[name.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"--threshold {item}: expected STAT=NUMBER, e.g. wasserstein=0.2") from None
    defaults = Rules()
    return Rules(tests={**defaults.tests, **chosen}, thresholds=limits, top_k=top_k)


def _sql_opener(stack: ExitStack, workspace: str | None) -> Any:
    def open_sandbox() -> duckdb.DuckDBPyConnection:
        from recops.lake.sql import sandbox
        from recops.workspace import Workspace

        ws = stack.enter_context(Workspace.open(workspace))
        return sandbox(ws.lake, ws.store)

    return open_sandbox


def _failure(report: DriftReport) -> str:
    columns = [c.column for c in report.drifted]
    segments = {f"{c.column} in {s}" for s, c in report.drifted_segments}
    parts = []
    if columns:
        parts.append(f"{len(columns)} column(s): {', '.join(columns)}")
    if segments:
        parts.append(f"{len(segments)} column(s) within segments of {report.segment_key}")
    return "drift found in " + "; ".join(parts)


def _print_profile_only(stored: Any, path: Path, json: bool) -> None:
    if json:
        print_json({"profile": str(path), "rows": stored.rows, "columns": len(stored.columns)})
        return
    console.print(f"profile of {len(stored.columns)} columns ({stored.rows:,} rows) saved to [bold]{path}[/]")


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return "inf" if value == float("inf") else f"{value:.4g}"


def _print_report(report: DriftReport, written: dict[str, str]) -> None:
    import pyarrow as pa

    rows = sorted(report.columns, key=lambda c: (not c.drifted, c.verdict != "insufficient data", c.column))
    table = pa.table(
        {
            "column": [c.column for c in rows],
            "test": [c.test or "" for c in rows],
            "statistic": [_fmt(c.statistic) for c in rows],
            "threshold": [_fmt(c.threshold) for c in rows],
            "verdict": [c.verdict for c in rows],
            "nulls": [_column_nulls(c) for c in rows],
            "note": [c.note for c in rows],
        }
    )
    print_table(table, title=f"drift: {report.reference} → {report.current}")
    drifted = report.drifted
    colour = "red" if drifted else "green"
    insufficient = sum(c.verdict == "insufficient data" for c in report.columns)
    console.print(
        f"[bold {colour}]{len(drifted)} of {len(report.columns)} columns drifted[/]"
        + (f", [yellow]{insufficient} with insufficient data[/]" if insufficient else "")
        + f" ({report.timings.get('total', 0):.2f} s)"
    )
    if report.segment_key:
        pairs = report.drifted_segments
        if pairs:
            seg = pa.table(
                {
                    "segment": [s for s, _ in pairs],
                    "column": [c.column for _, c in pairs],
                    "test": [c.test or "" for _, c in pairs],
                    "statistic": [_fmt(c.statistic) for _, c in pairs],
                    "rows ref→cur": [f"{c.reference_rows:,} → {c.current_rows:,}" for _, c in pairs],
                }
            )
            print_table(seg, title=f"drift within segments of {report.segment_key}")
        else:
            console.print(f"no drift within the {len(report.segments)} segments of {report.segment_key}")
        if report.untracked_segment_rows:
            rows_out = report.untracked_segment_rows
            err_console.print(f"{rows_out:,} current rows are in segments the reference lacks")
    if report.skipped:
        err_console.print(f"not compared: {', '.join(f'{n} ({r})' for n, r in report.skipped.items())}")
    if report.new_columns:
        err_console.print(f"only in the current window: {', '.join(report.new_columns)}")
    for what, path in written.items():
        console.print(f"{what} written to [bold]{path}[/]")


def _column_nulls(column: Any) -> str:
    if not column.reference_rows and not column.current_rows:
        return ""
    ref = column.reference_missing / column.reference_rows if column.reference_rows else 0.0
    cur = column.current_missing / column.current_rows if column.current_rows else 0.0
    return f"{ref:.1%} → {cur:.1%}"
