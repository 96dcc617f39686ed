"""The request trace page: find a request by id (or a user's at a time) and show what happened to it.

The same calls as ``recops trace``: :func:`recops.diagnose.trace.trace_request` and
:func:`~recops.diagnose.trace.trace_user_at`. A request that is not found is an answer
on the page, next to the form, not an error page.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from recops.diagnose.trace import RequestTrace, trace_request, trace_user_at
from recops.errors import InvalidInput, RecopsError
from recops.lake.windows import parse_local_time
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui.alerts import workspace
from recops.server.ui.charts import BAD, OK, Chart, bar_chart
from recops.server.ui.render import page

router = APIRouter(include_in_schema=False)

Viewer = Annotated[Principal, Depends(require_page("viewer"))]

#: Where the form's "recent requests" link goes: the SQL page, whose request ids link back here.
RECENT_SQL = (
    "SELECT request_id, ts, surface, user_id, model_version, status, latency_ms\n"
    "FROM requests\nORDER BY ts DESC\nLIMIT 50"
)


def latency_chart(t: RequestTrace) -> Chart | None:
    """Stage latencies as bars, red when over the stage's SLO."""
    stages = [s for s in t.stages if s.ms is not None]
    if not stages:
        return None
    fig = bar_chart(
        [s.stage for s in stages],
        [("ms", [s.ms for s in stages], OK)],
        title="stage latency (ms)",
        unit="ms",
        height=220,
    )
    fig["data"][0]["marker"]["color"] = [BAD if s.over_slo else OK for s in stages]
    fig["layout"]["showlegend"] = False
    slo = [s.slo_ms for s in stages]
    if any(v is not None for v in slo):
        marker = {"symbol": "line-ew-open", "size": 28, "color": BAD}
        x = [s.stage for s in stages]
        fig["data"].append(
            {"type": "scatter", "mode": "markers", "name": "SLO", "x": x, "y": slo, "marker": marker}
        )
    return Chart("trace-latency", fig)


@router.get("/trace")
def trace_page(
    request: Request,
    _p: Viewer,
    request_id: str = "",
    user: str = "",
    at: str = "",
    outcome_hours: float | None = None,
) -> Response:
    ws = workspace(request)
    form = {"request_id": request_id.strip(), "user": user.strip(), "at": at.strip(),
            "outcome_hours": "" if outcome_hours is None else f"{outcome_hours:g}"}  # fmt: skip
    found: RequestTrace | None = None
    problem: str | None = None
    try:
        if form["request_id"]:
            found = trace_request(ws.config, ws.lake, form["request_id"], outcome_hours=outcome_hours)
        elif form["user"] or form["at"]:
            if not (form["user"] and form["at"]):
                raise InvalidInput(
                    "give both the user and the time (the user's latest request at or before it)"
                )
            when = parse_local_time(form["at"], ws.config.zone)
            found = trace_user_at(ws.config, ws.lake, form["user"], when, outcome_hours=outcome_hours)
    except RecopsError as exc:
        problem = str(exc)
    context: dict[str, Any] = {
        "form": form,
        "t": found,
        "problem": problem,
        "chart": latency_chart(found) if found else None,
        "recent": "/sql?" + urlencode({"q": RECENT_SQL}),
    }
    return page(request, "trace.html", context)
