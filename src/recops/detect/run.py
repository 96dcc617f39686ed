"""A detection pass: run the planned detectors over the stored series, raise and clear alerts.

``recops monitor run`` ends with one pass. For every metric of the
:class:`~recops.detect.plan.DetectionPlan` it reads the stored points, feeds each series
(metric × subject × slice × window size) to fresh detectors from the start of the
history they need, and turns the states of the windows not judged before into alert
steps:

* a state whose status raises a severity (:meth:`DetectorSpec.severity`) opens the
  alert of its series and detector, with ``data_time`` the end of that window;
* while the status stays ``alarm`` or ``warn`` the alert stays open (hysteresis: a
  series hovering at the line does not flap) and takes the newest evidence and any
  higher severity;
* the first ``ok`` window resolves it, with ``resolved_data_time`` the end of that
  window; ``insufficient`` windows (missing data, too few observations) change nothing.

Detectors are replayed from history rather than stored: they are deterministic and keep
bounded state, so replaying the last :data:`HISTORY` gives the same states a
never-stopped detector would have, and a pass can be rerun safely. The end of the newest
judged window per window size is kept in ``monitor_state`` (``detect.judged``); the next
pass judges only later windows. Older windows rewritten by late outcomes are not judged
again: their alerts, if any, were raised when the windows closed.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select

from recops.catalog import Catalog, MetricDefinition
from recops.config import Config
from recops.detect.alerts import AlertSignal, Clear, record_timeline
from recops.detect.detectors import DetectorState, SeriesPoint, make_detector
from recops.detect.events import OPEN_STATES, severity_rank
from recops.detect.grouping import GroupingRules
from recops.detect.plan import DetectionPlan, DetectorSpec, default_plan, size_name
from recops.monitors.series import read_series
from recops.store import Store
from recops.store.tables import AlertRow, MetricPointRow, MonitorStateRow

#: How much data time before the first window to judge is replayed: the seasonal
#: baseline's 4 weeks plus its 14-day residual pool, which covers the 28-day trend windows.
HISTORY = timedelta(days=42)
STATE_KEY = "detect.judged"

Progress = Callable[[str, int, int], None]


@dataclass
class DetectionReport:
    """What a pass did."""

    series: int = 0
    points: int = 0
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    judged_until: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "points": self.points,
            "opened": self.opened,
            "updated": self.updated,
            "resolved": self.resolved,
            "judged_until": self.judged_until,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Series:
    metric: MetricDefinition
    subject: str
    slice: str
    granularity: str
    points: list[SeriesPoint]


def run_detection(
    store: Store,
    config: Config,
    catalog: Catalog,
    *,
    plan: DetectionPlan | None = None,
    rules: GroupingRules | None = None,
    rejudge_from: datetime | None = None,
    at: datetime | None = None,
    progress: Progress | None = None,
) -> DetectionReport:
    """Judge the windows not judged yet and record the alerts they raise or clear.

    Args:
        plan: the detectors (default :func:`~recops.detect.plan.default_plan`).
        rules: alert grouping (default: the workspace's feature groups).
        rejudge_from: judge again every window ending after this (a recomputed range).
        at: the wall-clock time recorded on alerts (default now).
        progress: called with (metric, done, total).
    """
    t0 = time.perf_counter()
    plan = plan or default_plan(catalog, config)
    rules = rules or GroupingRules.for_workspace(config)
    judged = _load_judged(store)
    if rejudge_from is not None:
        judged = {g: min(t, rejudge_from) for g, t in judged.items()}
    report = DetectionReport()
    planned = {spec.granularity for name in plan.metrics for spec in plan.for_metric(name)}
    if rejudge_from is None and _nothing_new(store, judged, planned):
        report.judged_until = {g: t.isoformat() for g, t in sorted(judged.items())}
        report.seconds = time.perf_counter() - t0
        return report
    open_keys = _open_keys(store)
    steps: list[tuple[datetime, int, AlertSignal | Clear]] = []
    newest: dict[str, datetime] = dict(judged)
    metrics = plan.metrics
    for done, name in enumerate(metrics, 1):
        definition = catalog.get(name)
        specs = plan.for_metric(name)
        sizes = {s.granularity for s in specs}
        known = [judged[g] for g in sizes if g in judged]
        history_start = min(known) - HISTORY if len(known) == len(sizes) else None
        for series in _series_of(store, definition, sizes, history_start):
            report.series += 1
            report.points += len(series.points)
            size = size_name(series.granularity)
            since = judged.get(size)
            last = series.points[-1].at
            newest[size] = max(newest.get(size, last), last)
            if since is not None and last <= since:
                continue  # no window after the judged ones: replaying would yield no step
            for spec in specs:
                if spec.granularity == size and not (spec.total_only and series.slice):
                    steps.extend(_steps(spec, series, since, open_keys))
        if progress is not None:
            progress(name, done, len(metrics))
    steps.sort(key=lambda s: (s[0], s[1]))
    if steps:
        signalled, resolved = record_timeline(store, (s[2] for s in steps), rules=rules, at=at)
        report.resolved = len(resolved)
        opened_keys = {a.key for a in signalled} - open_keys
        report.opened = len(opened_keys)
        report.updated = len(signalled) - report.opened
    _save_judged(store, newest)
    report.judged_until = {g: t.isoformat() for g, t in sorted(newest.items())}
    report.seconds = time.perf_counter() - t0
    return report


def _series_of(
    store: Store, definition: MetricDefinition, sizes: set[str], start: datetime | None
) -> Iterable[_Series]:
    """The stored series of a metric in the window sizes ``sizes``, points in time order."""
    table = read_series(store, definition.name, start=start)
    if table.num_rows == 0:
        return
    columns = {
        name: table.column(name).to_pylist()
        for name in (
            "subject",
            "slice",
            "granularity",
            "window_start",
            "window_end",
            "value",
            "numerator",
            "denominator",
            "n",
        )
    }
    grouped: dict[tuple[str, str, str], list[SeriesPoint]] = defaultdict(list)
    for i in range(table.num_rows):
        granularity = columns["granularity"][i]
        if size_name(granularity) not in sizes:
            continue
        grouped[(columns["subject"][i], columns["slice"][i], granularity)].append(
            SeriesPoint(
                at=_utc(columns["window_end"][i]),
                start=_utc(columns["window_start"][i]),
                value=columns["value"][i],
                numerator=columns["numerator"][i],
                denominator=columns["denominator"][i],
                n=columns["n"][i],
            )
        )
    for (subject, slice_, granularity), points in grouped.items():
        yield _Series(definition, subject, slice_, granularity, points)


def _steps(
    spec: DetectorSpec, series: _Series, since: datetime | None, open_keys: set[str]
) -> Iterable[tuple[datetime, int, AlertSignal | Clear]]:
    """The alert steps of one detector over one series' windows after ``since``."""
    detector = make_detector(spec.detector, spec.params)
    identity = AlertSignal(
        detector=spec.detector,
        metric=series.metric.name,
        severity="info",
        data_time=series.points[0].at,
        subject=series.subject,
        slice=series.slice,
        granularity=series.granularity,
    )
    key = identity.dedup_key()
    active = key in open_keys
    raised: str | None = None  # the highest severity signalled in the current episode
    last_active: DetectorState | None = None
    reported: DetectorState | None = None
    for point in series.points:
        state = detector.update(point)
        if since is not None and state.at <= since:
            continue
        severity = spec.severity(state.status)
        if state.status == "insufficient":
            continue
        if state.status == "ok":
            if active:
                if last_active is not None and last_active is not reported:
                    yield _signal(series, last_active, identity, raised or spec.alarm)
                yield state.at, 1, Clear(key, state.at)
            active, raised, last_active, reported = False, None, None, None
            continue
        if not active and severity is None:
            continue  # a warn that raises nothing, outside an episode
        if severity is not None and severity_rank(severity) > severity_rank(raised):
            raised, reported, active = severity, state, True
            yield _signal(series, state, identity, severity)
        last_active = state
    if active and last_active is not None and last_active is not reported:
        yield _signal(series, last_active, identity, raised or spec.alarm)


def _signal(
    series: _Series, state: DetectorState, identity: AlertSignal, severity: str
) -> tuple[datetime, int, AlertSignal]:
    signal = AlertSignal(
        detector=identity.detector,
        metric=identity.metric,
        severity=severity,
        data_time=state.at,
        subject=series.subject,
        slice=series.slice,
        granularity=series.granularity,
        subject_kind=series.metric.subject,
        summary=describe(series.metric, series.subject, series.slice, series.granularity, state),
        evidence={**state.evidence, "status": state.status, "since": state.since.isoformat()},
    )
    return state.at, 0, signal


def describe(
    metric: MetricDefinition, subject: str, slice_: str, granularity: str, state: DetectorState
) -> str:
    """One sentence for people: what moved, where, by how much."""
    where = "".join(
        (f" {subject}" if subject else "", f" in {slice_}" if slice_ else "", f" ({granularity})")
    )
    evidence = state.evidence
    value, baseline = evidence.get("value"), evidence.get("baseline")
    forecast = evidence.get("forecast")
    if isinstance(forecast, Mapping) and forecast.get("text"):
        return f"{metric.name}{where} is trending: {forecast['text']}"
    statistic = evidence.get("statistic")
    if isinstance(statistic, Mapping) and statistic.get("name") == "burn_ratio":
        return _describe_burn(f"{metric.name}{where}", evidence)
    if isinstance(statistic, Mapping) and statistic.get("name") in ("cusum", "page_hinkley"):
        side = "above" if evidence.get("side") == "up" else "below"
        sums = statistic.get("value") or 0.0
        return (
            f"{metric.name}{where} has stayed {side} its usual level: {statistic['name']} "
            f"{sums:.1f} (alarm at {evidence.get('bounds', {}).get('alarm')})"
        )
    if isinstance(value, int | float) and isinstance(baseline, int | float) and baseline:
        change = value / baseline - 1.0
        return f"{metric.name}{where} is {value:.4g}, {change:+.0%} from its baseline {baseline:.4g}"
    bounds = evidence.get("bounds")
    if isinstance(value, int | float) and isinstance(bounds, Mapping) and "level" in bounds:
        return f"{metric.name}{where} is {value:.4g}, past {bounds['level']:.4g}"
    if isinstance(statistic, Mapping) and statistic.get("value") is not None:
        return f"{metric.name}{where}: {statistic.get('name')} = {statistic['value']:.3g}"
    if isinstance(value, int | float):
        return f"{metric.name}{where} is {value:.4g}"
    return f"{metric.name}{where}: {state.status}"


def _describe_burn(what: str, evidence: Mapping[str, Any]) -> str:
    """The error budget's burn by the rule that fires (else the nearest one), not the last window's value."""
    rules = [r for r in evidence.get("rules") or () if isinstance(r, Mapping) and r.get("covered")]
    if not rules:
        return f"{what}: not enough history yet to judge the error budget's burn"

    def burn(rule: Mapping[str, Any]) -> float:
        return min(rule.get("long_burn") or 0.0, rule.get("short_burn") or 0.0) / (rule.get("burn") or 1.0)

    firing = [r for r in rules if r.get("firing")]
    rule = firing[0] if firing else max(rules, key=burn)
    long_burn, short_burn = rule.get("long_burn") or 0.0, rule.get("short_burn") or 0.0
    return (
        f"{what} {'burns' if firing else 'is burning'} its error budget {long_burn:.3g}x over "
        f"{rule['long']} and {short_burn:.3g}x over {rule['short']} ({rule.get('severity')} at "
        f"{rule.get('burn'):.3g}x on both{'' if firing else ': not reached'})"
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _nothing_new(store: Store, judged: Mapping[str, datetime], planned: set[str]) -> bool:
    """True when no stored window of a planned size ends after the judged ones (an idle pass).

    Reads only the newest windows, through the (granularity, window_start) index: a pass
    with no new points costs a query, not a replay of six weeks of series.
    """
    if not judged:
        return False
    table = cast(Table, MetricPointRow.__table__)
    floor = min(judged.values()) - timedelta(days=2)  # covers any window that ends after it
    with store.session() as session:
        rows = session.execute(
            select(table.c.granularity, func.max(table.c.window_end))
            .where(table.c.window_start >= floor)
            .group_by(table.c.granularity)
        ).all()
    for granularity, newest in rows:
        size = size_name(granularity)
        if size not in planned:
            continue
        since = judged.get(size)
        if since is None or _utc(newest) > since:
            return False
    return True


def _open_keys(store: Store) -> set[str]:
    with store.session() as session:
        return set(session.scalars(select(AlertRow.key).where(AlertRow.state.in_(OPEN_STATES))))


def _load_judged(store: Store) -> dict[str, datetime]:
    with store.session() as session:
        row = session.get(MonitorStateRow, STATE_KEY)
        if row is None:
            return {}
        return {g: datetime.fromisoformat(t) for g, t in json.loads(row.value).items()}


def _save_judged(store: Store, judged: Mapping[str, datetime]) -> None:
    value = json.dumps({g: t.isoformat() for g, t in sorted(judged.items())})
    with store.session() as session:
        row = session.get(MonitorStateRow, STATE_KEY)
        if row is None:
            session.add(MonitorStateRow(key=STATE_KEY, value=value))
        else:
            row.value = value


def reset_judged(store: Store) -> None:
    """Forget what was judged: the next pass judges every stored window again."""
    with store.session() as session:
        row = session.get(MonitorStateRow, STATE_KEY)
        if row is not None:
            session.delete(row)


__all__ = ["HISTORY", "DetectionReport", "describe", "reset_judged", "run_detection"]
