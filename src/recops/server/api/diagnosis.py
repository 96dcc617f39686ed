"""``/api/trace``, ``/api/diagnose``, ``/api/diff``: from a red signal to its cause (reads only).

The same library calls as ``recops trace``, ``recops diagnose`` and ``recops diff``.
Times are ISO 8601; a naive one is read in the workspace time zone, as on the CLI.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from recops.diagnose.contribution import Period
from recops.errors import InvalidInput
from recops.server.api._common import AUTH_RESPONSES, WS, Viewer, local_time, reply
from recops.workspace import Workspace

router = APIRouter(tags=["diagnosis"], responses=AUTH_RESPONSES)


def _period(ws: Workspace, start: str | None, end: str | None, what: str) -> Period:
    lo, hi = local_time(ws, start), local_time(ws, end)
    if lo is None or hi is None:
        raise InvalidInput(f"{what} needs both a start and an end")
    if hi <= lo:
        raise InvalidInput(f"{what}: the end must be after the start")
    return Period(lo, hi)


@router.get("/trace/{request_id}", summary="What happened to one request")
def trace(
    request_id: str,
    ws: WS,
    _p: Viewer,
    outcome_hours: float | None = Query(None, ge=0, description="Outcome window (default label window)."),
) -> JSONResponse:
    """Context, model and lineage, candidates by source, slate, feature ages vs TTL, latencies, outcomes."""
    from recops.diagnose.trace import trace_request

    return reply(trace_request(ws.config, ws.lake, request_id, outcome_hours=outcome_hours).to_json())


@router.get("/trace", summary="Trace a user's latest request at or before a time")
def trace_user(
    ws: WS,
    _p: Viewer,
    user: str = Query(description="The user id."),
    at: str = Query(description="ISO 8601 time; the latest request at or before it."),
    outcome_hours: float | None = Query(None, ge=0),
) -> JSONResponse:
    """`recops trace --user USER --at TIME --json`."""
    from recops.diagnose.trace import trace_user_at

    when = local_time(ws, at)
    assert when is not None
    return reply(trace_user_at(ws.config, ws.lake, user, when, outcome_hours=outcome_hours).to_json())


@router.get("/diagnose/alert/{alert_id}", summary="Ranked causes of an alert")
def diagnose_alert(alert_id: int, ws: WS, _p: Viewer, alpha: float = Query(0.05, gt=0, lt=1)) -> JSONResponse:
    """The alert's first windows against the same hours a week earlier; hypotheses ranked with evidence."""
    from recops.diagnose.diagnose import diagnose_alert as run

    return reply(run(ws.store, ws.lake, ws.config, alert_id, alpha=alpha).to_json())


@router.get("/diagnose/metric", summary="Ranked causes of a metric's move")
def diagnose_metric(
    ws: WS,
    _p: Viewer,
    metric: str = Query(),
    start: str = Query(alias="from", description="Start of the moved period."),
    end: str = Query(alias="to", description="End of the moved period."),
    subject: str = Query(""),
    slice: str = Query("", description="The moved slice, e.g. device=android_tv."),
    granularity: str | None = Query(None, description="hour or day (default: hour up to 2 days)."),
    baseline_from: str | None = Query(None, description="Baseline start (default: the week before)."),
    baseline_to: str | None = Query(None, description="Baseline end."),
    alpha: float = Query(0.05, gt=0, lt=1),
) -> JSONResponse:
    """`recops diagnose --metric M --from T --to T --json`."""
    from recops.diagnose.diagnose import diagnose_metric as run

    moved = _period(ws, start, end, "the moved period")
    baseline = (
        _period(ws, baseline_from, baseline_to, "the baseline") if baseline_from or baseline_to else None
    )
    result = run(
        ws.store, ws.lake, ws.config, metric, moved.start, moved.end,
        subject=subject, slice=slice, granularity=granularity, baseline=baseline, alpha=alpha,
    )  # fmt: skip
    return reply(result.to_json())


@router.get("/diff", summary="Compare two windows or two model versions")
def diff(
    ws: WS,
    _p: Viewer,
    metric: str = Query(),
    a_from: str | None = Query(None, description="Windows: side A start."),
    a_to: str | None = Query(None, description="Windows: side A end."),
    b_from: str | None = Query(None, description="Windows: side B start."),
    b_to: str | None = Query(None, description="Windows: side B end."),
    version_a: str | None = Query(None, description="Versions: side A."),
    version_b: str | None = Query(None, description="Versions: side B."),
    start: str | None = Query(None, alias="from", description="Versions: the window both served in."),
    end: str | None = Query(None, alias="to"),
    subject: str = Query(""),
) -> JSONResponse:
    """The metric by slice, candidate-source mix, feature distributions and latency, A vs B.

    Give either two windows (``a_from``..``a_to``, ``b_from``..``b_to``) or two versions
    with the window both served in (``version_a``, ``version_b``, ``from``, ``to``).
    """
    from recops.diagnose.diff import diff_versions, diff_windows

    if (version_a is None) != (version_b is None):
        raise InvalidInput("give both version_a and version_b, or two windows")
    if version_a is not None and version_b is not None:
        period = _period(ws, start, end, "comparing versions")
        report = diff_versions(
            ws.store, ws.lake, ws.config, metric, version_a, version_b, period, subject=subject
        )
    else:
        a, b = _period(ws, a_from, a_to, "side A"), _period(ws, b_from, b_to, "side B")
        report = diff_windows(ws.store, ws.lake, ws.config, metric, a, b, subject=subject)
    return reply(report.to_json())
