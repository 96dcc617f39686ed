"""``POST /api/sql``: read-only SQL over the lake and the store, in the `recops sql` sandbox.

The same sandbox and limits as the command line (``[sql] max_rows`` and
``timeout_seconds``): one SELECT, file access confined to the lake, token digests not
visible. A viewer token suffices because nothing here can write.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.lake.sql import run_sql, sandbox
from recops.server.api._common import AUTH_RESPONSES, WS, Viewer, reply

router = APIRouter(tags=["sql"], responses=AUTH_RESPONSES)


class SqlIn(BaseModel):
    query: str = Field(
        description="One SELECT (DuckDB dialect).",
        examples=["SELECT surface, count(*) FROM requests GROUP BY ALL"],
    )
    max_rows: int | None = Field(
        default=None, ge=1, description="Row limit, at most the workspace's sql.max_rows."
    )


@router.post(
    "/sql",
    summary="Run read-only SQL over the lake",
    responses={400: {"description": "Not one SELECT, a SQL error, a write or a file outside the lake."}},
)
def sql(body: SqlIn, ws: WS, _p: Viewer) -> JSONResponse:
    """Views: requests, outcomes, feature_rows, arrivals, changes, candidates, quarantine, and the
    store's tables. Answers ``columns``, ``rows`` (lists in column order) and ``truncated``.
    """
    limit = min(body.max_rows or ws.config.sql_max_rows, ws.config.sql_max_rows)
    con = sandbox(ws.lake, ws.store, query=body.query)
    try:
        result = run_sql(con, body.query, max_rows=limit, timeout_seconds=ws.config.sql_timeout_seconds)
    finally:
        con.close()
    table = result.table
    columns = table.column_names
    rows = [[row[c] for c in columns] for row in table.to_pylist()]
    return reply({"columns": columns, "rows": rows, "truncated": result.truncated})
