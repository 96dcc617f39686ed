"""``recops ingest KIND PATH...`` and ``recops ingest KIND --watch DIR``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json, print_table, progress_bar
from recops.contract import KINDS
from recops.errors import InvalidInput
from recops.ingest.pipeline import IngestReport, ingest_files
from recops.ingest.sources import expand
from recops.lake.maintenance import compact
from recops.workspace import Workspace

KIND_HELP = f"Record kind: {', '.join(KINDS)}."


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    kind: Annotated[str, typer.Argument(help=KIND_HELP, show_default=False)],
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Parquet / JSON Lines (.gz) files, folders or globs; the SDK's spool files too.",
            show_default=False,
        ),
    ] = None,
    watch: Annotated[
        Path | None,
        typer.Option(help="Keep ingesting new files that appear in this folder (Ctrl-C stops)."),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between folder scans with --watch.")] = 5.0,
    remove_ingested: Annotated[
        bool,
        typer.Option(
            help="Delete each source file once its records are in the lake or in quarantine (its "
            "batch committed, or found already ingested unchanged): for spool folders the SDK "
            "keeps filling."
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Validate, deduplicate and store contract records; refused ones go to quarantine.

    Files already ingested unchanged are skipped without being read. Each batch is
    committed atomically, so an interrupted ingest can simply be run again. The serving
    SDK's spool files hold records as it packed them; they are converted here, and a
    record with a value that cannot be stored goes to quarantine naming the field.
    With --watch and --json, each scan that read files prints one JSON line.

    Examples:
      recops ingest requests logs/requests/ ;
      recops ingest outcomes 'exports/outcomes-*.jsonl.gz' ;
      recops ingest requests --watch /var/spool/recops --remove-ingested
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")
    with Workspace.open(workspace) as ws:
        if watch is not None:
            _watch(ws, kind, watch, interval, json, remove_ingested)
            return
        if not paths:
            raise InvalidInput("give one or more files, folders or globs, or --watch DIR")
        report = _ingest_once(ws, kind, paths, json, remove_ingested)
    _print_report(report, json)


def _ingest_once(ws: Workspace, kind: str, paths: list[str], quiet: bool, remove: bool) -> IngestReport:
    total = len(expand(paths))
    if not total:  # an empty folder: not an error (a scheduled job may find none), but say so
        err_console.print(f"[yellow]warning:[/] no Parquet or JSON Lines files in {', '.join(paths)}")
    with progress_bar(f"ingest {kind}", total, enabled=not quiet) as bar:
        task = bar.task_ids[0]
        return ingest_files(
            ws.lake, kind, paths, progress=lambda _what, n: bar.advance(task, n), remove=remove
        )


def _watch(ws: Workspace, kind: str, folder: Path, interval: float, quiet: bool, remove: bool) -> None:
    if not folder.is_dir():
        raise InvalidInput(f"--watch {folder}: not a folder")
    if not quiet:
        console.print(f"watching {folder} for {kind} files every {interval:g} s (Ctrl-C stops)")
    try:
        while True:
            if any(folder.rglob("*")):
                report = ingest_files(ws.lake, kind, [str(folder)], remove=remove)
                if report.files_read:
                    _print_report(report, quiet, line=True)
                    compact(ws.lake, min_files=ws.config.compact_min_files)
            time.sleep(interval)
    except KeyboardInterrupt:
        if not quiet:
            console.print("stopped")


def _print_report(report: IngestReport, json: bool, *, line: bool = False) -> None:
    if json:
        print_json(report.to_dict(), line=line)
        return
    console.print(
        f"[bold]{report.kind}[/]: {report.files_read} files read, {report.files_skipped} skipped "
        f"(already ingested); {report.rows_read} records → [green]{report.rows_stored} stored[/], "
        f"{report.rows_duplicate} duplicates dropped, "
        f"[yellow]{report.rows_quarantined} quarantined[/] ({report.rows_conflict} conflicts)"
        + (f"; {report.files_removed} source files removed" if report.files_removed else "")
    )
    if report.rules:
        import pyarrow as pa

        rules = pa.table({"rule": list(report.rules), "records": list(report.rules.values())})
        print_table(rules, title='quarantined by rule (see: recops sql "SELECT * FROM quarantine")')
