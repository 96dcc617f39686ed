"""Diagnosis: rank the likely causes of a metric's move, or of an alert, with evidence.

:func:`diagnose_metric` explains the move of a metric series (metric, subject, slice)
between a current period and a baseline (the same hours a week earlier by default, or
the 7 days before when the week before has no point). :func:`diagnose_alert` takes the
period from an alert: its first window (from its data time and window size) up to its
newest, at most :data:`MAX_WINDOWS` windows, since a diagnosis is about how the trouble
began. Every cause module of :data:`~recops.diagnose.causes.CAUSES` adds hypotheses;
they are ranked by score (decision 0036).

Reads: the stored points of the periods (a few indexed queries on ``metric_points``),
the lake's ``changes`` and ``arrivals`` (small), one grouped count of the current
period's requests, and the feature → group mapping from two days of feature rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from recops.catalog import Catalog, load_catalog
from recops.config import Config
from recops.detect.alerts import Alert, get_alert
from recops.diagnose.causes import CAUSES, DAY_SERIES, HOUR_SERIES, Cause, Context, Hypothesis, Move, rank
from recops.diagnose.causes.evidence import shift
from recops.diagnose.causes.points import read_points
from recops.diagnose.contribution import Period, trailing_days, week_before
from recops.errors import InvalidInput, NotFound
from recops.lake import Lake
from recops.monitors.series import read_series
from recops.store import Store

#: The most windows of an alert a diagnosis reads as its current period.
MAX_WINDOWS = {"hour": 6, "day": 3}
#: Below this label completeness, a note says the outcome metric may still move.
LABELS_COMPLETE = 0.95
_SIZES = {"5min": timedelta(minutes=5), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Diagnosis:
    """The ranked hypotheses for one move.

    Attributes:
        move: what was explained (series, periods and its shift).
        hypotheses: every hypothesis, best first.
        alert: the diagnosed alert (its stored fields) when there is one.
        baseline_kind: ``week_before`` or ``trailing_days``.
        seconds: wall time of the diagnosis; timings: per cause module.
        notes: caveats (label completeness, a fallback baseline).
    """

    move: Move
    hypotheses: tuple[Hypothesis, ...]
    alert: dict[str, Any] | None = None
    baseline_kind: str = "week_before"
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    points_read: int = 0

    @property
    def findings(self) -> tuple[Hypothesis, ...]:
        """Hypotheses with a positive score, best first."""
        return tuple(h for h in self.hypotheses if h.score > 0)

    @property
    def top(self) -> Hypothesis | None:
        return self.hypotheses[0] if self.hypotheses else None

    def headline(self) -> str:
        """One line: what moved and the best cause."""
        m = self.move
        where = "".join((f" {m.subject}" if m.subject else "", f" in {m.slice}" if m.slice else ""))
        moved = m.moved
        if moved is None:
            what = f"{m.metric}{where}: no point in one of the periods"
        else:
            rel = f" ({100 * moved.relative:+.1f}%)" if moved.relative is not None else ""
            what = f"{m.metric}{where} {moved.baseline:.4g} → {moved.current:.4g}{rel}"
        best = self.findings[0] if self.findings else None
        tail = f"; most likely: {best.name} (score {best.score:.2f})" if best else "; no cause scored above 0"
        return what + tail

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _jsonable(
            {
                "move": self.move.to_json(),
                "alert": self.alert,
                "baseline_kind": self.baseline_kind,
                "headline": self.headline(),
                "hypotheses": [h.to_json() for h in self.hypotheses],
                "notes": list(self.notes),
                "seconds": round(self.seconds, 3),
                "timings": {k: round(v, 4) for k, v in self.timings.items()},
                "points_read": self.points_read,
            }
        )
        return out


def diagnose_metric(
    store: Store,
    lake: Lake,
    config: Config,
    metric: str,
    start: datetime,
    end: datetime,
    *,
    subject: str = "",
    slice: str = "",
    granularity: str | None = None,
    baseline: Period | None = None,
    alpha: float = 0.05,
    causes: Sequence[Cause] = CAUSES,
    catalog: Catalog | None = None,
) -> Diagnosis:
    """Rank the causes of the move of ``metric`` (``subject``, ``slice``) in ``[start, end)``.

    Args:
        granularity: the stored windows to analyse (``hour`` or ``day``); default ``hour``
            for periods up to two days (when the metric has hour windows), else ``day``.
        baseline: the period to compare with; default the same hours a week earlier, or the
            7 days before ``start`` when the week before has no point of the series.
        alpha: the family-wise significance level of every test.
        causes: the cause modules to run, in order (default :data:`CAUSES`).

    Raises:
        InvalidInput: an empty or naive period, or a granularity the metric does not have.
        NotFound: the metric has no point in the current period.
    """
    return _diagnose(
        store, lake, config, metric, Period(start, end), subject=subject, slice_=slice,
        granularity=granularity, baseline=baseline, alpha=alpha, causes=causes, catalog=catalog,
    )  # fmt: skip


def diagnose_alert(
    store: Store,
    lake: Lake,
    config: Config,
    alert_id: int,
    *,
    alpha: float = 0.05,
    causes: Sequence[Cause] = CAUSES,
    catalog: Catalog | None = None,
) -> Diagnosis:
    """Rank the causes of an alert's move: its first windows against the same hours a week earlier.

    Raises:
        NotFound: no such alert, or no stored point of its series in its windows.
    """
    alert = get_alert(store, alert_id)
    current, granularity = alert_period(store, alert)
    return _diagnose(
        store, lake, config, alert.metric, current, subject=alert.subject, slice_=alert.slice,
        granularity=granularity, baseline=None, alpha=alpha, causes=causes, catalog=catalog,
        alert=alert,
    )  # fmt: skip


def alert_period(store: Store, alert: Alert) -> tuple[Period, str]:
    """The alert's current period and the window size to analyse it at.

    From the start of the window whose end is the alert's data time to its newest window's
    end, at most :data:`MAX_WINDOWS` windows; serving-window (5-minute) alerts are analysed
    on the hours that hold them.
    """
    first_end = _utc(alert.data_time)
    last_end = _utc(alert.last_data_time)
    if alert.granularity not in ("hour", "day"):
        start = _floor_hour(first_end - _SIZES.get(alert.granularity, timedelta(minutes=5)))
        end = min(_ceil_hour(last_end), start + MAX_WINDOWS["hour"] * timedelta(hours=1))
        return Period(start, max(end, start + timedelta(hours=1))), "hour"
    stored = read_series(
        store,
        alert.metric,
        subject=alert.subject,
        slice=alert.slice,
        granularity=alert.granularity,
        start=first_end - 2 * _SIZES[alert.granularity],
        end=last_end,
    )
    starts = stored.column("window_start").to_pylist() if stored.num_rows else []
    ends = [_utc(e) for e in stored.column("window_end").to_pylist()] if stored.num_rows else []
    begin = next((_utc(s) for s, e in zip(starts, ends, strict=True) if e == first_end), None)
    if begin is None:
        begin = first_end - _SIZES[alert.granularity]
    later = sorted(e for e in ends if first_end <= e <= last_end)
    cap = MAX_WINDOWS[alert.granularity]
    finish = later[min(len(later), cap) - 1] if later else first_end
    return Period(begin, finish), alert.granularity


def _diagnose(
    store: Store,
    lake: Lake,
    config: Config,
    metric: str,
    current: Period,
    *,
    subject: str,
    slice_: str,
    granularity: str | None,
    baseline: Period | None,
    alpha: float,
    causes: Sequence[Cause],
    catalog: Catalog | None,
    alert: Alert | None = None,
) -> Diagnosis:
    t0 = time.perf_counter()
    if not 0 < alpha < 1:
        raise InvalidInput(f"alpha must lie in (0, 1), got {alpha}")
    catalog = catalog or load_catalog(config.root)
    definition = catalog.get(metric) if metric in catalog else None
    granularity = granularity or _default_granularity(current, definition)
    if granularity not in ("hour", "day"):
        raise InvalidInput(f"diagnosis reads hour or day windows, not {granularity!r}")
    notes: list[str] = []
    baseline_kind = "given" if baseline is not None else "week_before"
    chosen = baseline or week_before(current)
    wanted = None if causes is not CAUSES else {*HOUR_SERIES, metric}
    points = read_points(
        store, granularity, Context.periods_to_read(current, chosen, granularity), metrics=wanted
    )
    target = points.series(metric, subject, slice_)
    if not target.within(current):
        if definition is None:
            catalog.get(metric)  # an unknown name: say so, with the closest known ones
        raise NotFound(
            f"no {granularity} point of {metric!r}{f' {subject}' if subject else ''}"
            f"{f' in {slice_}' if slice_ else ''} in {current.start.isoformat()} .. {current.end.isoformat()}"
        )
    if baseline is None and not target.within(chosen):
        chosen = trailing_days(current, 7)
        baseline_kind = "trailing_days"
        notes.append("no point a week earlier: the baseline is the 7 days before the move")
        points = read_points(
            store, granularity, Context.periods_to_read(current, chosen, granularity), metrics=wanted
        )
        target = points.series(metric, subject, slice_)
    unit = definition.unit if definition is not None else ""
    moved = shift(target, current, chosen, unit=unit)
    evidence = alert.evidence if alert is not None else None
    move = Move(metric, subject, slice_, granularity, current, chosen, definition, moved, evidence)
    if moved is None:
        notes.append("the series has no point in the baseline: causes are scored without its move")
    completeness = [w.label_completeness for w in target.within(current) if w.label_completeness is not None]
    if completeness and min(completeness) < LABELS_COMPLETE:
        notes.append(
            f"labels are {100 * min(completeness):.0f}% complete in the current windows: "
            f"outcomes still arriving will move {metric}"
        )
    groups = _feature_groups(lake, current)
    ctx = Context(
        store, lake, config, catalog, move, points=points, alpha=alpha, feature_groups=groups,
        day_metrics=DAY_SERIES if causes is CAUSES else None,
    )  # fmt: skip
    found: list[Hypothesis] = []
    try:
        for cause in causes:
            started = time.perf_counter()
            found.extend(cause(ctx, tuple(found)))
            ctx.timings[getattr(cause, "__name__", repr(cause))] = time.perf_counter() - started
    finally:
        ctx.close()
    return Diagnosis(
        move=move,
        hypotheses=tuple(rank(found)),
        alert=alert.to_dict() if alert is not None else None,
        baseline_kind=baseline_kind,
        seconds=time.perf_counter() - t0,
        timings=ctx.timings,
        notes=tuple(notes),
        points_read=points.rows + ctx.days_rows,
    )


def _default_granularity(current: Period, definition: Any) -> str:
    available = tuple(definition.granularities) if definition is not None else ("hour", "day")
    if "hour" in available and current.duration <= timedelta(days=2):
        return "hour"
    return "day" if "day" in available else "hour"


def _feature_groups(lake: Lake, current: Period) -> dict[str, str]:
    """Feature → group, from the keys of a sample of the feature rows materialized in the two
    days before the move's end (the rule of :func:`recops.detect.grouping.feature_groups_from_lake`:
    a name found in two groups is left out). The sample bounds the cost on a large feature
    store: every row of a group carries the same keys."""
    sql = """
        WITH sample AS (
            SELECT * FROM (
                SELECT feature_group, "values", value_strings FROM feature_rows
                WHERE materialized_at >= $since AND materialized_at < $until
            ) USING SAMPLE reservoir(50000 ROWS) REPEATABLE (1)
        )
        SELECT feature, min(feature_group) AS feature_group
        FROM (
            SELECT DISTINCT feature_group, unnest(map_keys("values")) AS feature FROM sample
            UNION
            SELECT DISTINCT feature_group, unnest(map_keys(value_strings)) AS feature FROM sample
        )
        GROUP BY feature
        HAVING count(DISTINCT feature_group) = 1
    """
    con = lake.connect()
    try:
        rows = con.execute(sql, {"since": current.end - timedelta(days=2), "until": current.end}).fetchall()
    finally:
        con.close()
    return {str(feature): str(group) for feature, group in rows}


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    floored = _floor_hour(t)
    return floored if floored == t else floored + timedelta(hours=1)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _jsonable(x: Any) -> Any:
    """Finite floats (None for NaN and infinities), datetimes as ISO text, containers recursively."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, datetime):
        return x.isoformat()
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


__all__ = ["MAX_WINDOWS", "Diagnosis", "alert_period", "diagnose_alert", "diagnose_metric"]


def entity_parts(entity: Mapping[str, Any]) -> list[str]:
    """A hypothesis' entity as ``key=value`` parts (lists shortened), as people read it."""
    parts = []
    for key, value in entity.items():
        if value is None or value == [] or key == "ts":
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value[:4]) + (f" +{len(value) - 4}" if len(value) > 4 else "")
        parts.append(f"{key}={value}")
    return parts
