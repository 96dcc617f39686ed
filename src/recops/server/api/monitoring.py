"""Metrics, series, crossings, drift, the lake, the monitor run and the scheduler under ``/api``.

The metric catalog and the stored series (``recops metrics``, ``recops monitor``), a
drift comparison of two lake windows (``recops drift`` with ``sql:`` inputs), the lake's
status and its upkeep (``recops lake``: compaction, retention and vacuum, for admins), and
the monitor run an operator can trigger without waiting for the scheduler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recops.catalog import load_catalog
from recops.errors import InvalidInput
from recops.lake.maintenance import apply_retention, compact, vacuum
from recops.server.api._common import (
    AUTH_RESPONSES,
    WS,
    Admin,
    Operator,
    Viewer,
    audit_write,
    local_time,
    reply,
)
from recops.workspace import Workspace

router = APIRouter(tags=["monitoring"], responses=AUTH_RESPONSES)


@router.get("/metrics/catalog", summary="The metric catalog")
def catalog(
    ws: WS, _p: Viewer, family: str | None = Query(None, description="Only this family.")
) -> JSONResponse:
    """`recops metrics list --json`: every field of every definition, built-in and the workspace's."""
    found = load_catalog(ws.config.root)
    chosen = found.by_family(family) if family is not None else list(found)
    return reply([d.to_dict() for d in chosen])


@router.get("/metrics/catalog/{name}", summary="Everything about one metric")
def explain(name: str, ws: WS, _p: Viewer) -> JSONResponse:
    """`recops metrics explain NAME --json`: meaning, expression, slices, threshold, SLO target."""
    definition = load_catalog(ws.config.root).get(name)
    out: dict[str, Any] = definition.to_dict()
    out["slo_target"] = ws.config.slo.get(definition.slo) if definition.slo else None
    return reply(out)


@router.get("/series", summary="A stored metric series")
def series(
    ws: WS,
    _p: Viewer,
    metric: str = Query(description="Metric name (`GET /api/metrics/catalog`)."),
    subject: str | None = Query(
        None, description="Feature, group, source, stage...; omitted: every subject."
    ),
    slice: str = Query("", description="'' for all traffic, or KEY=VALUE (device=tv)."),
    granularity: str = Query("day", description="5min, hour or day."),
    start: str | None = Query(None, alias="from", description="Start (ISO; naive = workspace time zone)."),
    end: str | None = Query(None, alias="to", description="End, exclusive."),
    last: int | None = Query(None, ge=1, description="Only the last N windows."),
) -> JSONResponse:
    """One row per window: value, numerator, denominator, n, label completeness, baseline..."""
    from recops.monitors import read_series

    table = read_series(
        ws.store,
        metric,
        subject=subject,
        slice=slice,
        granularity=granularity,
        start=local_time(ws, start),
        end=local_time(ws, end),
    )
    if last is not None and table.num_rows > last:
        table = table.slice(table.num_rows - last)
    return reply({"metric": metric, "slice": slice, "granularity": granularity, "points": table.to_pylist()})


@router.get("/crossings", summary="Stored points past their metric's default threshold")
def crossings(
    ws: WS,
    _p: Viewer,
    start: str | None = Query(None, alias="from"),
    end: str | None = Query(None, alias="to"),
    metric: Annotated[list[str] | None, Query(description="Only these metrics (repeatable).")] = None,
    granularity: str | None = Query(None, description="5min, hour or day."),
) -> JSONResponse:
    """`recops monitor crossings --json`."""
    from recops.monitors.thresholds import crossings as find

    found = find(
        ws.store,
        load_catalog(ws.config.root),
        ws.config.slo,
        ws.config.zone,
        metrics=metric,
        start=local_time(ws, start),
        end=local_time(ws, end),
        granularity=granularity,
    )
    return reply([c.to_json() for c in found])


class DriftIn(BaseModel):
    """Two lake windows as SQL over the sandbox (`recops drift 'sql:...' 'sql:...'`)."""

    reference: str = Field(description="SELECT for the reference window, e.g. over feature_rows.")
    current: str = Field(description="SELECT for the current window.")
    columns: list[str] | None = Field(default=None, description="Compare only these columns.")
    categorical: list[str] = Field(
        default_factory=list, description="Numeric columns compared as categories."
    )
    segment: str | None = Field(default=None, description="Also compare within each value of this column.")
    max_segments: int = Field(default=50, ge=1, le=1000)
    tests: dict[str, str] = Field(
        default_factory=dict, description="Deciding test per kind, e.g. numeric: ks."
    )
    thresholds: dict[str, float] = Field(default_factory=dict, description="e.g. wasserstein: 0.2")
    top_k: int = Field(default=20, ge=1, le=1000)
    exact: bool = False


def _opener(stack: ExitStack, ws: Workspace, query: str) -> Callable[[], duckdb.DuckDBPyConnection]:
    """A lazy sandbox for one input holding only the store tables its query names.

    Registering every store table costs seconds on a big store; the query's own words
    bound what it can read, as for `POST /api/sql`.
    """
    from recops.lake.sql import sandbox

    def open_one() -> duckdb.DuckDBPyConnection:
        con = sandbox(ws.lake, ws.store, query=query)
        stack.callback(con.close)
        # The `recops sql` time limit: the query is interrupted (a 400) instead of holding a worker.
        timer = threading.Timer(ws.config.sql_timeout_seconds, con.interrupt)
        timer.start()
        stack.callback(timer.cancel)
        return con

    return open_one


@router.post("/drift", summary="Distribution drift between two lake windows")
def drift(body: DriftIn, ws: WS, _p: Viewer) -> JSONResponse:
    """Column-by-column drift (test, statistic, threshold, verdict), per segment if asked.

    Inputs are SELECT statements run in the same sandbox as `POST /api/sql`; files on the
    server are not readable through this route. A read: it changes nothing.
    """
    from recops import drift as engine
    from recops.drift import Rules
    from recops.drift.sources import SQL_PREFIX

    for text in (body.reference, body.current):
        if not text.strip():
            raise InvalidInput("reference and current are SELECT statements over the lake")
    defaults = Rules()
    rules = Rules(tests={**defaults.tests, **body.tests}, thresholds=body.thresholds, top_k=body.top_k)
    with ExitStack() as stack:
        ref = engine.open_input(SQL_PREFIX + body.reference, sql=_opener(stack, ws, body.reference))
        cur = engine.open_input(SQL_PREFIX + body.current, sql=_opener(stack, ws, body.current))
        report = engine.compare(
            ref, cur, columns=body.columns, categorical=body.categorical, segment=body.segment, rules=rules,
            exact=body.exact, max_segments=body.max_segments,
        )  # fmt: skip
    return reply(report.to_dict())


@router.get("/lake", summary="Files, rows and bytes per record kind")
def lake_status(ws: WS, _p: Viewer) -> JSONResponse:
    """`recops lake status --json`."""
    return reply(ws.lake.status().to_pylist())


class CompactIn(BaseModel):
    min_files: int | None = Field(
        default=None,
        ge=2,
        description="Compact partitions of at least this many small files (default: lake.compact_min_files).",
    )


class RetentionIn(BaseModel):
    days: int | None = Field(
        default=None,
        ge=0,
        description="Keep this many days; 0 keeps everything (default: lake.retention_days).",
    )


class VacuumIn(BaseModel):
    grace_minutes: float = Field(default=60.0, ge=0, description="Only delete files hidden this long ago.")


@router.post("/lake/compact", summary="Rewrite partitions of many small files as one (admin)")
def lake_compact(ws: WS, principal: Admin, body: CompactIn | None = None) -> JSONResponse:
    """`recops lake compact --json`: partitions, files before and after, rows rewritten.

    Readers keep working: replaced files are hidden, not deleted (`POST /api/lake/vacuum`
    deletes them later). Audited as ``lake.compact``.
    """
    min_files = (body or CompactIn()).min_files or ws.config.compact_min_files
    out: dict[str, Any] = {**compact(ws.lake, min_files=min_files).__dict__, "min_files": min_files}
    out["audit_seq"] = audit_write(ws, principal, "lake.compact", "lake", out)
    return reply(out)


@router.post("/lake/retention", summary="Hide partitions older than the retention period (admin)")
def lake_retention(ws: WS, principal: Admin, body: RetentionIn | None = None) -> JSONResponse:
    """`recops lake retention --json`: how many files past retention were hidden.

    Their data is gone from every read at once; the files are deleted by a later vacuum.
    Audited as ``lake.retention``.
    """
    days = (body or RetentionIn()).days
    days = ws.config.retention_days if days is None else days
    out: dict[str, Any] = {"days": days, "files_expired": apply_retention(ws.lake, days=days)}
    out["audit_seq"] = audit_write(ws, principal, "lake.retention", "lake", out)
    return reply(out)


@router.post("/lake/vacuum", summary="Delete files that compaction or retention hid (admin)")
def lake_vacuum(ws: WS, principal: Admin, body: VacuumIn | None = None) -> JSONResponse:
    """`recops lake vacuum --json`: files hidden more than ``grace_minutes`` ago are deleted.

    The grace period protects a reader that listed the files just before they were hidden.
    Audited as ``lake.vacuum``.
    """
    grace = (body or VacuumIn()).grace_minutes
    out: dict[str, Any] = {
        "grace_minutes": grace,
        "files_deleted": vacuum(ws.lake, grace=timedelta(minutes=grace)),
    }
    out["audit_seq"] = audit_write(ws, principal, "lake.vacuum", "lake", out)
    return reply(out)


@router.get("/scheduler", summary="The server's monitor and detection schedule")
def scheduler_status(request: Request, _p: Viewer) -> JSONResponse:
    """Period, runs, failures, the last run's time, duration, error, points and alerts opened.

    ``enabled`` is false when the server runs without a scheduler (`recops serve --no-schedule`).
    """
    scheduler = request.app.state.scheduler
    if scheduler is None:
        return reply({"enabled": False})
    return reply({"enabled": True, **scheduler.status()})


@router.post("/monitor/run", summary="Run the monitors and detection now (operator)")
def monitor_run(request: Request, ws: WS, principal: Operator) -> JSONResponse:
    """One incremental pass (new or changed windows only), then detection; waits for it.

    With the scheduler running this is its own pass (so two never overlap) and the answer
    is its status; otherwise `recops monitor run --json`. Audited as ``monitor.run``.
    """
    scheduler = request.app.state.scheduler
    started = time.perf_counter()
    out: dict[str, Any]
    if scheduler is not None and hasattr(scheduler, "run_once"):
        scheduler.run_once()
        out = {"scheduler": scheduler.status()}
    else:
        from recops.monitors import run_monitors

        report = run_monitors(ws.config, ws.lake)
        cycle = None
        if ws.config.detection.enabled:
            from recops.detect.cycle import detection_cycle

            cycle = detection_cycle(ws.store, ws.config, lake=ws.lake)
        out = {**report.to_json(), "detection": cycle.to_json() if cycle else None}
    seconds = round(time.perf_counter() - started, 3)
    out["audit_seq"] = audit_write(ws, principal, "monitor.run", "monitors", {"seconds": seconds})
    return reply(out)
