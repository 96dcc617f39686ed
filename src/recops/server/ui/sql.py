"""The read-only SQL page: the same sandbox and limits as ``recops sql``.

A GET with ``?q=`` so a query and its results are a link. The connection is
:func:`recops.lake.sql.sandbox` and the statement runs through
:func:`recops.lake.sql.run_sql` with the workspace's ``[sql]`` max rows and timeout: only
SELECT (and EXPLAIN) run, file access is limited to the lake, and the refusal of a write
is shown on the page.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from recops.errors import RecopsError
from recops.lake.sql import SqlResult, run_sql, sandbox
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui.alerts import workspace
from recops.server.ui.render import page

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, Depends(require_page("viewer"))]

EXAMPLE = "SELECT surface, model_version, count(*) AS requests\nFROM requests\nGROUP BY ALL\nORDER BY ALL"
#: Columns whose values link to another page.
LINKS = {"request_id": "/trace?request_id=", "alert_id": "/alerts/", "incident_id": "/incidents/"}


def cell(value: Any) -> str:
    """A value as text in a results table (None blank, times in ISO 8601)."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, list) and value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return "{" + ", ".join(f"{k}: {cell(v)}" for k, v in value) + "}"  # a MAP column
    return str(value)


def execute(request: Request, query: str) -> SqlResult:
    """``recops sql QUERY`` on the server's workspace: same sandbox, same limits."""
    ws = workspace(request)
    con = sandbox(ws.lake, ws.store, query=query)
    try:
        return run_sql(
            con, query, max_rows=ws.config.sql_max_rows, timeout_seconds=ws.config.sql_timeout_seconds
        )
    finally:
        con.close()


@router.get("/sql")
def sql_page(request: Request, _p: Viewer, q: str = "") -> Response:
    ws = workspace(request)
    query = q.strip()
    context: dict[str, Any] = {
        "q": query, "example": EXAMPLE, "error": None, "result": None,
        "max_rows": ws.config.sql_max_rows, "timeout": ws.config.sql_timeout_seconds,
    }  # fmt: skip
    if query:
        started = time.perf_counter()
        try:
            result = execute(request, query)
        except RecopsError as exc:
            context["error"] = str(exc)
        else:
            columns = result.table.column_names
            context["result"] = {
                "columns": columns,
                "links": [LINKS.get(c) for c in columns],
                "rows": list(zip(*(map(cell, c.to_pylist()) for c in result.table.columns), strict=True)),
                "truncated": result.truncated,
            }
        context["seconds"] = time.perf_counter() - started
    return page(request, "sql.html", context)
