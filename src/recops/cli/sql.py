"""``recops sql``: read-only SQL over the lake views and the store's tables."""

from __future__ import annotations

from typing import Annotated

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import arrow_rows, err_console, print_csv, print_json, print_table
from recops.lake.sql import run_sql, sandbox
from recops.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT statement.", show_default=False)],
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    max_rows: Annotated[
        int | None, typer.Option(min=1, help="Row limit (default: max_rows under [sql] in recops.toml).")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Run read-only SQL (DuckDB dialect) over the lake and the store.

    Views: requests, outcomes, feature_rows, arrivals, changes, candidates (one row per
    scored candidate), quarantine, and every store table (lake_batches, lake_files, ...).
    Writes and files outside the lake are refused.

    Example: recops sql "SELECT surface, count(*) FROM requests GROUP BY ALL"
    """
    with Workspace.open(workspace) as ws:
        con = sandbox(ws.lake, ws.store, query=query)
        result = run_sql(
            con,
            query,
            max_rows=ws.config.sql_max_rows if max_rows is None else max_rows,
            timeout_seconds=ws.config.sql_timeout_seconds,
        )
    if json:
        print_json(arrow_rows(result.table))
    elif csv:
        print_csv(result.table)
    else:
        print_table(result.table)
    if result.truncated:
        err_console.print(f"[yellow]stopped at {result.table.num_rows} rows[/] (raise --max-rows)")
