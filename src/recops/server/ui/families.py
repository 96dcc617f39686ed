"""The signal path's five stages and their pages: ``GET /family/{name}``.

The dashboard reads the path as arrival → quality → features → model → serving, while
the catalog files metrics under the monitor family that computes them (arrival, quality,
drift, freshness, metrics, latency). :data:`STAGES` maps one onto the other: features are
drift and freshness; serving is latency plus the request-level failure rates (errors,
fallbacks, empty slates), the metrics the detection plan pages on because something is
broken now; model is the rest of the model and business metrics.

A family page charts every metric of its stage from the stored series (one window size,
one slice, a bounded time range, never whole tables), with the catalog's threshold or
SLO, the seasonal baseline band and the trend forecast that the detection plan's own
detectors give when replayed over the same points (deterministic, so the band is what
detection judged against), and the alerts raised on the series at their data times.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select, text

from recops.catalog import Catalog, MetricDefinition, load_catalog
from recops.config import Config
from recops.detect.alerts import Alert, list_alerts
from recops.detect.detectors import DetectorState, SeriesPoint, make_detector, run_detector
from recops.detect.detectors.trend import TrendParams
from recops.detect.plan import PAGE_METRICS, DetectionPlan, DetectorSpec, default_plan, size_name, slo_targets
from recops.detect.run import HISTORY
from recops.server.auth import require_page
from recops.server.tokens import Principal
from recops.server.ui import charts
from recops.server.ui.memo import Memo
from recops.server.ui.render import page
from recops.store import Store
from recops.store.tables import MetricPointRow

router = APIRouter(include_in_schema=False)

GRANULARITIES = ("day", "hour")
#: Days shown by default: six weeks of days, two weeks of hours (336 points a chart).
DEFAULT_DAYS = {"day": 42, "hour": 14}
MAX_DAYS = 120
#: Traces per chart: a metric about many subjects shows the worst ones.
MAX_SUBJECTS = 8
WINDOW = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
#: Alerts read for a family's markers (newest first).
ALERT_LIMIT = 5000
FRESHNESS = (
    "feature_age_p95_hours",
    "stale_feature_share",
    "hours_since_materialization",
    "materialization_lag_p95_minutes",
)


@dataclass(frozen=True)
class Spark:
    """A sparkline on the overview: one metric, combined over its subjects.

    ``combine``: ``total`` (the subject-less series), ``sum`` or ``max`` over subjects, or
    ``violated`` (how many subjects have a value above 0, e.g. checks failing).
    """

    metric: str
    label: str
    combine: str = "total"


@dataclass(frozen=True)
class Stage:
    """One stage of the signal path: which catalog metrics it shows and its key series."""

    name: str
    title: str
    question: str
    families: tuple[str, ...]
    sparks: tuple[Spark, ...]
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    def owns(self, definition: MetricDefinition) -> bool:
        if definition.name in self.exclude:
            return False
        return definition.family in self.families or definition.name in self.include

    def metrics(self, catalog: Catalog) -> list[MetricDefinition]:
        return [d for d in catalog if self.owns(d)]


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "arrival",
            "Arrival",
            "Did upstream data land, complete and on time?",
            ("arrival",),
            (
                Spark("late_partitions", "late partitions", "sum"),
                Spark("missing_partitions", "missing partitions", "sum"),
                Spark("arrival_rows", "rows landed", "sum"),
            ),
        ),
        Stage(
            "quality",
            "Quality",
            "Does the data keep the promises its checks state?",
            ("quality",),
            (
                Spark("check_violation_rate", "checks violated", "violated"),
                Spark("check_violation_rate", "worst violation rate", "max"),
            ),
        ),
        Stage(
            "features",
            "Features",
            "Are the features the model sees fresh and distributed as usual?",
            ("drift", "freshness"),
            (
                Spark("stale_feature_share", "stale share, worst group", "max"),
                Spark("feature_drift_ratio", "drift ratio, worst feature", "max"),
            ),
        ),
        Stage(
            "model",
            "Model",
            "Do the recommendations engage users as they used to?",
            ("metrics",),
            (Spark("ctr", "CTR"), Spark("play_rate", "play rate"), Spark("ndcg_at_10", "NDCG@10")),
            exclude=PAGE_METRICS,
        ),
        Stage(
            "serving",
            "Serving",
            "Are slates served fast and without errors?",
            ("latency",),
            (Spark("latency_p95_ms", "latency p95 (ms)"), Spark("error_rate", "error rate")),
            include=PAGE_METRICS,
        ),
    )
}


def stage_of(metric: str, catalog: Catalog) -> str:
    """The stage a metric belongs to; metrics outside the catalog (the dead man's switch
    on data feeds and monitor runs) belong to arrival, where data stops coming."""
    if metric in catalog:
        definition = catalog.get(metric)
        for stage in STAGES.values():
            if stage.owns(definition):
                return stage.name
    return "arrival"


# ─── reading: bounded ranges of stored series ─────────────────────────────────────────


def latest_start(store: Store, granularity: str) -> datetime | None:
    """The start of the newest stored window of a size (the index on granularity, window_start)."""
    query = select(func.max(MetricPointRow.window_start)).where(MetricPointRow.granularity == granularity)
    with store.session() as session:
        value = session.scalar(query)
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The distinct subjects of a metric by skipping from one to the next along the primary
# key (metric, subject, ...): one index seek per subject, instead of a scan of every
# point of the metric (hundreds of thousands for a sliced 5-minute series).
_SUBJECTS = text(
    """
    WITH RECURSIVE s(x) AS (
      SELECT min(subject) FROM metric_points WHERE metric = :metric
      UNION ALL
      SELECT (SELECT min(subject) FROM metric_points WHERE metric = :metric AND subject > s.x)
      FROM s WHERE s.x IS NOT NULL
    )
    SELECT x FROM s WHERE x IS NOT NULL
    """
)


def subjects_of(store: Store, definition: MetricDefinition) -> list[str]:
    """The stored subjects of a metric ([""] for a metric about no subject)."""
    if not definition.subject:
        return [""]
    with store.engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(_SUBJECTS, {"metric": definition.name})]


def stored_slices(store: Store, metrics: Sequence[str], granularity: str, since: datetime) -> list[str]:
    """The slices stored for ``metrics`` in windows from ``since`` ("" first)."""
    query = (
        select(MetricPointRow.slice)
        .where(
            MetricPointRow.metric.in_(list(metrics)),
            MetricPointRow.granularity == granularity,
            MetricPointRow.window_start >= since,
        )
        .distinct()
    )
    with store.session() as session:
        found = set(session.scalars(query))
    return sorted(found, key=lambda s: (s != "", s))


@dataclass(frozen=True)
class Series:
    """One stored series (metric × subject × slice × window size), column by column.

    Window bounds are kept as microseconds since the epoch (cheap to take from Arrow,
    compare and hash) and as local wall-clock strings (``x``) for the charts, both
    converted once per read by Arrow; datetimes are made only for the detectors.
    """

    metric: str
    subject: str
    slice: str
    granularity: str
    starts: list[int]
    ends: list[int]
    x: list[str]
    values: list[float | None]
    numerators: list[float | None]
    denominators: list[float | None]
    n: list[int]

    def __len__(self) -> int:
        return len(self.starts)

    def since(self, start: datetime) -> Series:
        """The windows starting at or after ``start``."""
        return self._from(bisect.bisect_left(self.starts, micros(start)))

    def last(self, span: timedelta) -> Series:
        """The windows whose data time (end) is within ``span`` of the newest one's."""
        if not self.ends:
            return self
        return self._from(bisect.bisect_right(self.ends, self.ends[-1] - span // MICROSECOND))

    def _from(self, i: int) -> Series:
        return Series(
            self.metric,
            self.subject,
            self.slice,
            self.granularity,
            self.starts[i:],
            self.ends[i:],
            self.x[i:],
            self.values[i:],
            self.numerators[i:],
            self.denominators[i:],
            self.n[i:],
        )

    def points(self) -> list[SeriesPoint]:
        return [
            SeriesPoint(at=moment(e), start=moment(s), value=v, numerator=nu, denominator=de, n=n)
            for s, e, v, nu, de, n in zip(
                self.starts, self.ends, self.values, self.numerators, self.denominators, self.n, strict=True
            )
        ]

    def at(self, data_time: datetime) -> int | None:
        """The index of the window holding ``data_time`` (a window's data time is its end)."""
        at = micros(data_time)
        i = bisect.bisect_left(self.ends, at)
        return i if i < len(self.starts) and self.starts[i] < at else None


def read_points(
    store: Store,
    zone: ZoneInfo,
    subjects: Mapping[str, Sequence[str]],
    *,
    slice: str,
    granularity: str,
    start: datetime,
    end: datetime,
) -> dict[tuple[str, str], Series]:
    """The series of several metrics and subjects in one slice, window size and range.

    The batched form of :func:`recops.monitors.series.read_series` (same table, same
    columns, through :meth:`Store.fetch_arrow`): every (metric, subject) pair is an
    equality on the primary key, so the store seeks each series instead of scanning a
    window range of every metric, and a page is one query instead of one per series.
    """
    metrics = [m for m, subs in subjects.items() if subs]
    if not metrics:
        return {}
    every = sorted({s for subs in subjects.values() for s in subs})
    table_ = MetricPointRow.__table__
    columns = ("metric", "subject", "window_start", "window_end", "value", "numerator", "denominator", "n")
    query = (
        select(*[table_.c[c] for c in columns])
        .where(
            table_.c.metric.in_(metrics),
            table_.c.subject.in_(every),
            table_.c.slice == slice,
            table_.c.granularity == granularity,
            table_.c.window_start >= start,
            table_.c.window_start < end,
        )
        .order_by(table_.c.metric, table_.c.subject, table_.c.window_start)
    )
    table = store.fetch_arrow(query)
    if table.num_rows == 0:
        return {}
    local = pc.strftime(table["window_start"].cast(pa.timestamp("us", tz=zone.key)), format="%Y-%m-%d %H:%M")
    key = pc.binary_join_element_wise(table["metric"], table["subject"], "\x00")
    changes = pc.indices_nonzero(pc.not_equal(key.slice(1), key.slice(0, len(key) - 1))).to_pylist()
    bounds = [0, *(i + 1 for i in changes), table.num_rows]
    metric_col, subject_col = table["metric"], table["subject"]
    cols = {c: table[c].to_pylist() for c in ("value", "numerator", "denominator")}
    counts = pc.fill_null(table["n"], 0).to_pylist()
    starts = table["window_start"].cast(pa.int64()).to_pylist()
    ends = table["window_end"].cast(pa.int64()).to_pylist()
    xs = local.to_pylist()
    out: dict[tuple[str, str], Series] = {}
    for i, j in itertools.pairwise(bounds):
        metric, subject = metric_col[i].as_py(), subject_col[i].as_py()
        if subject not in subjects.get(metric, ()):
            continue
        out[(metric, subject)] = Series(
            metric,
            subject,
            slice,
            granularity,
            starts[i:j],
            ends[i:j],
            xs[i:j],
            cols["value"][i:j],
            cols["numerator"][i:j],
            cols["denominator"][i:j],
            counts[i:j],
        )
    return out


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """Microseconds since the epoch of an aware time (the store's timestamp resolution)."""
    return (at - EPOCH) // MICROSECOND


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class View:
    """What a page shows: one window size and slice over ``[start, end)``, in the workspace zone."""

    granularity: str
    slice: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    last_day: tuple[datetime, datetime] | None

    def x(self, at: datetime) -> str:
        return charts.local_time(at, self.zone)

    def diagnose_url(self, metric: str) -> str:
        """The diagnosis of ``metric`` over the last day (the page another module serves)."""
        query: dict[str, str] = {"metric": metric}
        if self.last_day is not None:
            fmt = "%Y-%m-%dT%H:%M"
            query["from"] = self.last_day[0].astimezone(self.zone).strftime(fmt)
            query["to"] = self.last_day[1].astimezone(self.zone).strftime(fmt)
        if self.slice:
            query["slice"] = self.slice
        return "/diagnose?" + urlencode(query)


def make_view(store: Store, config: Config, granularity: str, slice_: str, days: int | None) -> View:
    """The range ending at the newest stored window: a simulated or paused world ends in the past."""
    latest = latest_start(store, granularity)
    latest_day = latest_start(store, "day")
    end = latest + WINDOW[granularity] if latest is not None else datetime.now(UTC)
    start = end - timedelta(days=days or DEFAULT_DAYS[granularity])
    last_day = (latest_day, latest_day + WINDOW["day"]) if latest_day is not None else None
    return View(granularity, slice_, start, end, config.zone, last_day)


# ─── detection's view of a series: replayed detectors ─────────────────────────────────

#: Replays kept: a seasonal replay over six weeks of hours costs ~0.1 ms a point, and the
#: same series is asked for by every visitor until new points arrive.
REPLAY_CACHE = 512
_REPLAYS: Memo[list[DetectorState]] = Memo(REPLAY_CACHE)


def replay(spec: DetectorSpec, series: Series) -> list[DetectorState]:
    """The states detection's ``spec`` gives over ``series`` (detectors are deterministic,
    so the result is cached on the exact points and parameters)."""
    key = hash(
        (
            spec.detector,
            repr(sorted(spec.params.items())),
            series.metric,
            series.subject,
            series.slice,
            series.granularity,
            tuple(series.starts),
            tuple(series.values),
            tuple(series.numerators),
            tuple(series.denominators),
            tuple(series.n),
        )
    )
    return _REPLAYS.get(key, lambda: run_detector(make_detector(spec.detector, spec.params), series.points()))


def spec_for(plan: DetectionPlan, metric: str, detector: str, granularity: str) -> DetectorSpec | None:
    for spec in plan.for_metric(metric):
        if spec.detector == detector and spec.granularity == size_name(granularity):
            return spec
    return None


@dataclass(frozen=True)
class Band:
    x: list[str]
    baseline: list[float | None]
    low: list[float | None]
    high: list[float | None]


def baseline_band(spec: DetectorSpec, series: Series, start: datetime) -> Band | None:
    """The seasonal baseline and its alarm bounds over the windows from ``start``, or None
    while the baseline has not formed (it needs weeks of history)."""
    band = Band([], [], [], [])
    first = bisect.bisect_left(series.starts, micros(start))
    for i, state in enumerate(replay(spec, series)[first:], first):
        bounds = state.evidence.get("bounds")
        alarm = bounds.get("alarm") if isinstance(bounds, Mapping) else None
        band.x.append(series.x[i])
        band.baseline.append(state.evidence.get("baseline"))
        band.low.append(alarm[0] if alarm else None)
        band.high.append(alarm[1] if alarm else None)
    return band if any(b is not None for b in band.baseline) else None


@dataclass(frozen=True)
class Forecast:
    subject: str
    at: datetime
    fitted: float
    level: float
    days: float
    text: str
    status: str


def trend_forecast(spec: DetectorSpec, series: Series) -> Forecast | None:
    """The trend detector's forecast crossing after the newest day, when its trend is
    significant and the crossing is still ahead."""
    if not len(series):
        return None
    # The trend's state at the newest window depends only on the windows in its span (it
    # keeps the values of the last ``window`` of data time and has no memory beyond them),
    # so only those are replayed: 28 days, not every stored day, each costing a fit.
    window = TrendParams.from_dict(spec.params).window
    state = replay(spec, series.last(window))[-1]
    forecast = state.evidence.get("forecast")
    fitted = state.evidence.get("baseline")
    if state.status not in ("warn", "alarm") or not isinstance(forecast, Mapping) or fitted is None:
        return None
    if forecast.get("already"):
        return None
    return Forecast(
        series.subject,
        state.at,
        float(fitted),
        float(forecast["level"]),
        float(forecast["days"]),
        str(forecast["text"]),
        state.status,
    )


# ─── one metric's chart ───────────────────────────────────────────────────────────────


@dataclass
class MetricPanel:
    """A metric's card on a family page."""

    definition: MetricDefinition
    chart: charts.Chart | None
    granularity: str
    slice: str
    diagnose_url: str
    threshold: str = ""
    subjects: list[str] = field(default_factory=list)
    hidden_subjects: int = 0
    points: int = 0
    alerts: int = 0
    open_alerts: int = 0
    forecasts: list[Forecast] = field(default_factory=list)
    note: str = ""


def _badness(definition: MetricDefinition, series: Series) -> float:
    values = [v for v in series.values if v is not None]
    if not values:
        return float("-inf")
    return -min(values) if definition.direction == "down_is_bad" else max(values)


def pick_subjects(definition: MetricDefinition, shown: Mapping[str, Series], alerted: set[str]) -> list[str]:
    """The subjects drawn: "" (all) first, then the alerted ones, then the worst by value."""
    ranked = sorted(shown, key=lambda s: (s != "", s not in alerted, -_badness(definition, shown[s]), s))
    return ranked[:MAX_SUBJECTS]


def threshold_level(definition: MetricDefinition, config: Config) -> float | None:
    if definition.threshold is None or definition.threshold.relative:
        return None
    return definition.threshold_value(slo_targets(config))


@dataclass(frozen=True)
class Need:
    """How a panel reads its metric: window size, slice and from when (history included)."""

    definition: MetricDefinition
    granularity: str
    slice: str
    start: datetime
    read_from: datetime
    seasonal: DetectorSpec | None
    trend: DetectorSpec | None
    note: str


def need_of(definition: MetricDefinition, plan: DetectionPlan, view: View) -> Need:
    wanted = any(size_name(g) == view.granularity for g in definition.granularities)
    granularity = view.granularity if wanted else "day"
    note = "" if wanted else "computed in daily windows only"
    slice_ = view.slice if definition.slices or not view.slice else ""
    if slice_ != view.slice:
        note = "not sliced: all traffic shown"
    start = view.start if granularity == view.granularity else view.end - timedelta(days=DEFAULT_DAYS["day"])
    seasonal = spec_for(plan, definition.name, "seasonal", granularity)
    trend = spec_for(plan, definition.name, "trend", "day") if slice_ == "" else None
    history = seasonal is not None or (trend is not None and granularity == "day")
    return Need(
        definition, granularity, slice_, start, start - HISTORY if history else start, seasonal, trend, note
    )


def load_series(
    store: Store, zone: ZoneInfo, needs: Sequence[Need], subjects: Mapping[str, Sequence[str]], end: datetime
) -> tuple[dict[tuple[str, str], Series], dict[tuple[str, str], Series]]:
    """Every panel's series, batched: one read per (window size, slice, start), plus the
    daily all-traffic series the trend detector needs when the view is hourly."""
    groups: dict[tuple[str, str, datetime], dict[str, Sequence[str]]] = defaultdict(dict)
    for need in needs:
        groups[(need.granularity, need.slice, need.read_from)][need.definition.name] = subjects[
            need.definition.name
        ]
    found: dict[tuple[str, str], Series] = {}
    for (granularity, slice_, start), wanted in groups.items():
        found.update(
            read_points(store, zone, wanted, slice=slice_, granularity=granularity, start=start, end=end)
        )
    trend_daily = {
        n.definition.name: subjects[n.definition.name] for n in needs if n.trend and n.granularity != "day"
    }
    daily: dict[tuple[str, str], Series] = {}
    if trend_daily:
        start = end - timedelta(days=DEFAULT_DAYS["day"]) - HISTORY
        daily = read_points(store, zone, trend_daily, slice="", granularity="day", start=start, end=end)
    return found, daily


def metric_panel(
    config: Config,
    need: Need,
    view: View,
    series: Mapping[str, Series],
    daily: Mapping[str, Series],
    alerts: Sequence[Alert],
) -> MetricPanel:
    """One metric's chart: its series, threshold or SLO line, baseline band, alerts and forecast."""
    definition = need.definition
    window = WINDOW.get(need.granularity, WINDOW["day"])
    shown = {s: ser.since(need.start) for s, ser in series.items()}
    shown = {s: ser for s, ser in shown.items() if len(ser)}
    in_range = [
        a
        for a in alerts
        if a.metric == definition.name
        and a.slice == need.slice
        and need.start < a.data_time <= view.end + window
    ]
    subjects = pick_subjects(definition, shown, {a.subject for a in in_range})
    level = threshold_level(definition, config)
    panel = MetricPanel(
        definition,
        None,
        need.granularity,
        need.slice,
        view.diagnose_url(definition.name),
        threshold=definition.threshold.describe(definition.slo, level) if definition.threshold else "",
        subjects=subjects,
        hidden_subjects=max(0, len(shown) - len(subjects)),
        alerts=len(in_range),
        open_alerts=sum(1 for a in in_range if a.state != "resolved"),
        note=need.note,
    )
    if not subjects:
        panel.note = panel.note or "no points in this range and slice"
        return panel
    layout = charts.base_layout(unit=definition.unit)
    data: list[dict[str, Any]] = []
    primary = subjects[0]
    if need.seasonal is not None and (primary == "" or len(subjects) == 1):
        band = baseline_band(need.seasonal, series[primary], need.start)
        if band is not None:
            data.extend(charts.band_traces(band.x, band.low, band.high, name="alarm band"))
            data.append(
                charts.line_trace(
                    band.x, band.baseline, name="seasonal baseline", color=charts.INFO, dash="dash"
                )
            )
    for i, s in enumerate(subjects):
        ser = shown[s]
        name = s or ("all" if len(subjects) > 1 else definition.name)
        data.append(
            charts.line_trace(ser.x, ser.values, name=name, color=charts.PALETTE[i % len(charts.PALETTE)])
        )
    panel.points = sum(len(shown[s]) for s in subjects)
    if level is not None:
        charts.level_line(layout, level, panel.threshold)
    if need.trend is not None:
        source = series if need.granularity == "day" else daily
        for s in subjects:
            found = trend_forecast(need.trend, source[s]) if s in source else None
            if found is not None:
                panel.forecasts.append(found)
                crossing = found.at + timedelta(days=found.days)
                data.append(
                    charts.forecast_trace(
                        (view.x(found.at), found.fitted),
                        (view.x(crossing), found.level),
                        text=f"{s or definition.name}: {found.text}",
                    )
                )
    xs: list[str] = []
    ys: list[float | None] = []
    texts: list[str] = []
    for s in subjects:
        ser = shown[s]
        for a in in_range:
            hit = ser.at(a.data_time) if a.subject == s else None
            if hit is not None:
                xs.append(ser.x[hit])
                ys.append(ser.values[hit])
                texts.append(f"alert {a.id} ({a.severity}, {a.state}): {a.summary}")
    if xs:
        data.append(charts.marker_trace(xs, ys, texts, name="alerts"))
    panel.chart = charts.Chart(f"chart-{definition.name}", charts.figure(data, layout))
    return panel


# ─── the features page's own views: drift by day, freshness by group ─────────────────


def drift_heatmap(series: Mapping[str, Series], start: datetime) -> charts.Chart | None:
    """Every feature's daily drift ratio (1.0 = the drift line), worst features on top."""
    shown = {f: s.since(start) for f, s in series.items()}
    shown = {f: s for f, s in shown.items() if len(s)}
    if not shown:
        return None
    days = sorted({x[:10] for s in shown.values() for x in s.x})
    col = {d: i for i, d in enumerate(days)}
    ranked = sorted(shown, key=lambda f: max((v or 0.0) for v in shown[f].values))
    z: list[list[float | None]] = []
    for feature in ranked:
        row: list[float | None] = [None] * len(days)
        for x, v in zip(shown[feature].x, shown[feature].values, strict=True):
            row[col[x[:10]]] = v
        z.append(row)
    fig = charts.heatmap(days, ranked, z, colorbar="× drift line", zmid=1.0)
    fig["layout"]["xaxis"] = {"type": "category", "automargin": True}
    return charts.Chart("chart-drift-heatmap", fig)


@dataclass(frozen=True)
class GroupFreshness:
    group: str
    ttl_hours: float | None
    age_p95_hours: float | None
    stale_share: float | None
    hours_since_materialization: float | None
    lag_p95_minutes: float | None
    stale_line: float | None

    @property
    def state(self) -> str:
        if (
            self.stale_share is not None
            and self.stale_line is not None
            and self.stale_share > self.stale_line
        ):
            return "bad"
        if self.ttl_hours and self.age_p95_hours is not None and self.age_p95_hours > self.ttl_hours:
            return "warn"
        return "ok"


def freshness_by_group(
    config: Config, catalog: Catalog, loaded: Mapping[str, Mapping[str, Series]]
) -> tuple[list[GroupFreshness], charts.Chart | None]:
    """Each feature group's newest freshness values against its TTL, and a bar chart of age vs TTL."""

    def newest(metric: str, group: str) -> float | None:
        series = loaded.get(metric, {}).get(group)
        return series.values[-1] if series is not None and len(series) else None

    stale = catalog.get("stale_feature_share") if "stale_feature_share" in catalog else None
    line = threshold_level(stale, config) if stale is not None else None
    groups = sorted({g for m in loaded.values() for g in m if g} | set(config.feature_groups))
    out = [
        GroupFreshness(
            g,
            config.feature_groups[g].ttl_hours if g in config.feature_groups else None,
            newest("feature_age_p95_hours", g),
            newest("stale_feature_share", g),
            newest("hours_since_materialization", g),
            newest("materialization_lag_p95_minutes", g),
            line,
        )
        for g in groups
    ]
    if not out:
        return out, None
    fig = charts.bar_chart(
        [g.group for g in out],
        [
            ("age p95 at serve time (h)", [g.age_p95_hours for g in out], charts.ACCENT),
            ("hours since materialization", [g.hours_since_materialization for g in out], charts.MUTED),
            ("TTL (h)", [g.ttl_hours for g in out], charts.BAD),
        ],
        unit="hours",
    )
    return out, charts.Chart("chart-freshness", fig)


# ─── the page ─────────────────────────────────────────────────────────────────────────


def family_alerts(store: Store, metrics: Iterable[str]) -> list[Alert]:
    """The alerts on a family's metrics, newest first (one read, filtered here: alerts
    have no index on metric)."""
    names = set(metrics)
    return [a for a in list_alerts(store, limit=ALERT_LIMIT) if a.metric in names]


@router.get("/family/{name}", response_class=HTMLResponse)
def family_page(
    request: Request,
    name: str,
    _principal: Annotated[Principal, Depends(require_page("viewer"))],
    granularity: Annotated[str, Query(pattern="^(day|hour)$")] = "day",
    slice_: Annotated[str, Query(alias="slice", max_length=300)] = "",
    subject: Annotated[str | None, Query(max_length=200)] = None,
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
) -> HTMLResponse:
    """A stage's metrics over time: thresholds, baselines, alerts, forecasts; for features
    also the drift heatmap and freshness by group."""
    stage = STAGES.get(name)
    if stage is None:
        raise HTTPException(404, f"no family {name!r}; the signal path is {', '.join(STAGES)}")
    ws = request.app.state.workspace
    store, config = ws.store, ws.config
    catalog = load_catalog(config.root)
    plan = default_plan(catalog, config)
    view = make_view(store, config, granularity, slice_, days)
    definitions = stage.metrics(catalog)
    subjects = {d.name: subjects_of(store, d) for d in definitions}
    if subject is not None:
        subjects = {m: [s for s in subs if s == subject] or subs for m, subs in subjects.items()}
    needs = [need_of(d, plan, view) for d in definitions]
    found, daily = load_series(store, config.zone, needs, subjects, view.end)
    alerts = family_alerts(store, subjects)
    panels = []
    loaded: dict[str, dict[str, Series]] = {}
    for need in needs:
        metric = need.definition.name
        mine = {s: found[(metric, s)] for s in subjects[metric] if (metric, s) in found}
        loaded[metric] = mine
        trend = {s: daily[(metric, s)] for s in subjects[metric] if (metric, s) in daily}
        panels.append(metric_panel(config, need, view, mine, trend, alerts))
    heat = groups = freshness = None
    if name == "features":
        day_start = (
            view.start if view.granularity == "day" else view.end - timedelta(days=DEFAULT_DAYS["day"])
        )
        heat = drift_heatmap(loaded.get("feature_drift_ratio", {}), day_start)
        groups, freshness = freshness_by_group(config, catalog, {m: loaded.get(m, {}) for m in FRESHNESS})
    slices = stored_slices(store, [d.name for d in definitions], "day", view.end - timedelta(days=2))
    if view.slice and view.slice not in slices:
        slices.append(view.slice)
    return page(
        request,
        "family.html",
        {
            "stage": stage,
            "view": view,
            "panels": panels,
            "slices": slices,
            "subject": subject,
            "heatmap": heat,
            "groups": groups or [],
            "freshness": freshness,
            "granularities": GRANULARITIES,
        },
    )
