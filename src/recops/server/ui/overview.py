"""The overview, ``GET /``: the signal path at a glance, then what is open.

Five stage cards (arrival → quality → features → model → serving), each with a state
an operator can read from across the room, the reason for it and sparklines of its key
series; then the alert groups (the open ones, or the most recent when none is open: a
simulated world ends with most alerts resolved) and the incidents. Every card and row
links one click further: the family page, the alert group, the incident.

A stage's state:

* ``bad``: an open alert of the stage pages (something is broken now);
* ``warn``: an open alert of the stage opened a ticket, or a point of the newest day
  crosses its metric's default threshold (``recops monitor crossings``);
* ``ok``: neither.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from recops.catalog import Catalog, load_catalog
from recops.config import Config
from recops.detect.alerts import Alert, AlertGroup, list_alerts, list_groups
from recops.detect.plan import slo_targets
from recops.monitors.thresholds import Crossing, crossings
from recops.respond.incidents import Incident, list_incidents
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui import charts
from recops.server.ui.families import (
    STAGES,
    WINDOW,
    Series,
    Spark,
    Stage,
    View,
    latest_start,
    read_points,
    stage_of,
    subjects_of,
)
from recops.server.ui.memo import Memo
from recops.server.ui.render import page
from recops.store import Store

router = APIRouter(include_in_schema=False)

#: Days of daily points in a sparkline.
SPARK_DAYS = 28
#: Alert groups and incidents listed when none is open.
RECENT = 8


@dataclass(frozen=True)
class SparkView:
    label: str
    metric: str
    chart: charts.Chart | None
    last: float | None
    points: int


@dataclass
class StageCard:
    stage: Stage
    state: str = "ok"
    reasons: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    sparks: list[SparkView] = field(default_factory=list)


def stage_state(alerts: Sequence[Alert], crossed: Sequence[Crossing]) -> str:
    """``bad``, ``warn`` or ``ok`` from a stage's open alerts and newest-day crossings."""
    if any(a.severity == "page" for a in alerts):
        return "bad"
    if alerts or crossed:
        return "warn"
    return "ok"


def _combine(spark: Spark, series: Sequence[Series]) -> tuple[list[str], list[float | None]]:
    """One value per window from the subjects of a metric, as ``spark.combine`` says."""
    if spark.combine == "total":
        total = [s for s in series if s.subject == ""]
        return (total[0].x, total[0].values) if total else ([], [])
    per_window: dict[str, list[float]] = defaultdict(list)
    for s in series:
        for x, v in zip(s.x, s.values, strict=True):
            if v is not None:
                per_window[x].append(float(v))
    xs = sorted(per_window)
    if spark.combine == "sum":
        return xs, [sum(per_window[x]) for x in xs]
    if spark.combine == "max":
        return xs, [max(per_window[x]) for x in xs]
    return xs, [float(sum(1 for v in per_window[x] if v > 0)) for x in xs]  # violated


def spark_views(store: Store, catalog: Catalog, view: View) -> dict[str, list[SparkView]]:
    """Every stage's sparklines from one read of the daily all-traffic series."""
    wanted = {s.metric for stage in STAGES.values() for s in stage.sparks if s.metric in catalog}
    subjects = {m: subjects_of(store, catalog.get(m)) for m in wanted}
    found = read_points(
        store, view.zone, subjects, slice="", granularity="day", start=view.start, end=view.end
    )
    out: dict[str, list[SparkView]] = {}
    for stage in STAGES.values():
        out[stage.name] = []
        for i, spark in enumerate(stage.sparks):
            xs, ys = _combine(spark, [s for (m, _), s in found.items() if m == spark.metric])
            chart = (
                charts.Chart(f"spark-{stage.name}-{i}", charts.sparkline(xs, ys), css="spark") if xs else None
            )
            out[stage.name].append(
                SparkView(spark.label, spark.metric, chart, ys[-1] if ys else None, len(xs))
            )
    return out


#: Seconds the newest day's crossings are reused: `crossings` reads each thresholded
#: metric's points unfiltered by subject and slice (~10-60 ms a metric on SQLite), and
#: the newest day only changes when a monitor run rewrites it.
CROSSINGS_TTL = 60.0
_CROSSINGS: Memo[list[Crossing]] = Memo(4)


def newest_crossings(
    store: Store, config: Config, catalog: Catalog, day: tuple[datetime, datetime]
) -> list[Crossing]:
    """The points of the newest day past their default threshold (`recops monitor crossings`).

    Reused until the newest hour changes or ``CROSSINGS_TTL`` passes; visitors arriving
    while it is computed wait for that one computation.
    """
    key = (str(config.root), day[0], latest_start(store, "hour"), int(time.monotonic() // CROSSINGS_TTL))
    return _CROSSINGS.get(
        key,
        lambda: crossings(
            store, catalog, slo_targets(config), config.zone, start=day[0], end=day[1], granularity="day"
        ),
    )


def stage_cards(
    store: Store, config: Config, catalog: Catalog, open_alerts: Sequence[Alert], view: View
) -> list[StageCard]:
    """The five cards: state and reasons from open alerts and the newest day's crossings."""
    cards = {name: StageCard(stage) for name, stage in STAGES.items()}
    for alert in open_alerts:
        cards[stage_of(alert.metric, catalog)].alerts.append(alert)
    if view.last_day is not None:
        for crossing in newest_crossings(store, config, catalog, view.last_day):
            cards[stage_of(crossing.metric, catalog)].crossings.append(crossing)
    for card in cards.values():
        card.state = stage_state(card.alerts, card.crossings)
        if card.alerts:
            severities = Counter(a.severity for a in card.alerts)
            detail = ", ".join(f"{n} {s}" for s, n in severities.most_common())
            card.reasons.append(
                f"{len(card.alerts)} open alert{'s' if len(card.alerts) != 1 else ''} ({detail})"
            )
        if card.crossings:
            metrics = sorted({c.metric for c in card.crossings})
            day = view.x(view.last_day[0])[:10] if view.last_day else ""
            count = len(card.crossings)
            card.reasons.append(
                f"{count} point{'s' if count != 1 else ''} past threshold on {day}: " + ", ".join(metrics)
            )
        if not card.reasons:
            card.reasons.append("no open alerts; the newest day is within thresholds")
    sparks = spark_views(store, catalog, view)
    for card in cards.values():
        card.sparks = sparks[card.stage.name]
    return list(cards.values())


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, _principal: Annotated[Principal, Depends(require_page("viewer"))]
) -> HTMLResponse:
    ws = request.app.state.workspace
    store, config = ws.store, ws.config
    catalog = load_catalog(config.root)
    latest_day = latest_start(store, "day")
    end = latest_day + WINDOW["day"] if latest_day is not None else datetime.now(UTC)
    last_day = (latest_day, end) if latest_day is not None else None
    view = View("day", "", end - timedelta(days=SPARK_DAYS), end, config.zone, last_day)
    cards = stage_cards(store, config, catalog, list_alerts(store, state="open"), view)
    groups: list[AlertGroup] = list_groups(store, state="open")
    groups_open = bool(groups)
    if not groups:
        groups = list_groups(store, limit=RECENT)
    incidents: list[Incident] = list_incidents(store, state="active")
    incidents_open = bool(incidents)
    if not incidents:
        incidents = list_incidents(store)[:RECENT]
    return page(
        request,
        "overview.html",
        {
            "cards": cards,
            "view": view,
            "groups": groups,
            "groups_open": groups_open,
            "incidents": incidents,
            "incidents_open": incidents_open,
        },
    )
