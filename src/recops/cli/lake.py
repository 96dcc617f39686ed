"""``recops lake status|compact|retention|vacuum``: look after the Parquet lake."""

from __future__ import annotations

from typing import Annotated

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import arrow_rows, console, print_json, print_table
from recops.lake.maintenance import apply_retention, compact, vacuum
from recops.workspace import Workspace

app = typer.Typer(help="Look after the lake: status, compaction, retention, vacuum.", no_args_is_help=True)


@app.command("status")
def status(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """Files, rows and bytes per record kind."""
    with Workspace.open(workspace) as ws:
        table = ws.lake.status()
    if json:
        print_json(arrow_rows(table))
    else:
        print_table(table, title="lake")


@app.command("compact")
def compact_cmd(
    min_files: Annotated[
        int | None, typer.Option(help="Compact partitions with at least this many small files.")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Rewrite date partitions made of many small files (SDK, HTTP ingest) as one file each."""
    with Workspace.open(workspace) as ws:
        report = compact(ws.lake, min_files=min_files or ws.config.compact_min_files)
    if json:
        print_json(report.__dict__)
    else:
        console.print(
            f"compacted {report.partitions} partitions: {report.files_before} files → "
            f"{report.files_after} ({report.rows} rows)"
        )


@app.command("retention")
def retention_cmd(
    days: Annotated[
        int | None, typer.Option(min=1, help="Keep this many days (default: lake.retention_days).")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Drop partitions older than the retention period (files are deleted by vacuum)."""
    with Workspace.open(workspace) as ws:
        hidden = apply_retention(ws.lake, days=ws.config.retention_days if days is None else days)
    if json:
        print_json({"files_expired": hidden})
    else:
        console.print(f"{hidden} files past retention hidden; `recops lake vacuum` deletes them")


@app.command("vacuum")
def vacuum_cmd(
    grace_minutes: Annotated[float, typer.Option(help="Only delete files hidden this long ago.")] = 60,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Delete files that compaction or retention replaced, once no reader can need them."""
    from datetime import timedelta

    with Workspace.open(workspace) as ws:
        deleted = vacuum(ws.lake, grace=timedelta(minutes=grace_minutes))
    if json:
        print_json({"files_deleted": deleted})
    else:
        console.print(f"{deleted} files deleted")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="lake")
