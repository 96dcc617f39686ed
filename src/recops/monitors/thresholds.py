"""Which stored points cross their metric's default threshold (from the catalog).

The first, simplest judge of a series, used by the acceptance checks and by `recops
monitor crossings`; the detectors of the detection layer (seasonal baselines, change
points, trends) build on the same series. Rules, per point:

* ``above`` / ``below``: the value passes the level (an SLO-valued level comes from
  ``[slo]`` in recops.toml);
* ``relative_drop`` / ``relative_rise``: the value moved by more than the fraction from
  its baseline *and* by at least ``min_z`` standard errors. ``same_weekday_4w`` is the
  median of the same window one to four weeks earlier (at least two of them present);
  ``trailing_7d`` the pooled ratio of the 7 days before. The standard error is the
  binomial one of the two rates (numerator/denominator of the point and of the
  baseline) under their pooled rate (:func:`rate_z`), so a thin slice must move much
  further than a thick one, times the square root of the series' dispersion measured on
  its own last four weeks (:func:`dispersion`), since real rates vary more than a
  binomial: clustered units, week-to-week swings;
* only the window sizes the catalog lists for the metric are judged;
* ``min_n``: points with fewer observations are not judged.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recops.catalog import Catalog, MetricDefinition
from recops.monitors.series import read_series
from recops.store import Store

WEEK = timedelta(days=7)
#: Weeks of a series' history its dispersion is measured on (the baseline's four weeks).
DISPERSION_WEEKS = 4
#: Fewest week-over-week pairs that make a dispersion estimate.
MIN_PAIRS = 10
#: Fewest expected events (and non-events) on each side of a pair for the chi-square to hold.
MIN_EXPECTED = 5.0
#: The median of a chi-square with one degree of freedom.
CHI2_1_MEDIAN = 0.454936423119572


@dataclass(frozen=True)
class Crossing:
    """A point past its default threshold, with the numbers that put it there."""

    metric: str
    subject: str
    slice: str
    granularity: str
    window_start: datetime
    window_end: datetime
    value: float
    threshold: str
    level: float | None
    baseline: float | None = None
    z: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["window_start"] = self.window_start.isoformat()
        out["window_end"] = self.window_end.isoformat()
        return out


def crossings(
    store: Store,
    catalog: Catalog,
    slo: dict[str, float],
    zone: ZoneInfo,
    *,
    metrics: Iterable[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    granularity: str | None = None,
) -> list[Crossing]:
    """Every stored point in ``[start, end)`` that crosses its metric's default threshold."""
    found: list[Crossing] = []
    names = list(metrics) if metrics is not None else [d.name for d in catalog if d.threshold is not None]
    for name in names:
        definition = catalog.get(name)
        if definition.threshold is None:
            continue
        history = start - 5 * WEEK if start is not None and definition.threshold.relative else start
        table = read_series(store, name, granularity=granularity, start=history, end=end)
        series: dict[tuple[str, str, str], dict[datetime, dict[str, Any]]] = defaultdict(dict)
        sizes = {_size_name(g) for g in definition.granularities}
        for row in table.to_pylist():
            if _size_name(row["granularity"]) not in sizes:
                continue  # the catalog judges this metric on other window sizes
            series[(row["subject"], row["slice"], row["granularity"])][row["window_start"]] = row
        for points in series.values():
            found.extend(_judge(definition, points, slo, zone, start))
    return sorted(found, key=lambda c: (c.window_start, c.metric, c.subject, c.slice))


def _size_name(granularity: str) -> str:
    """``5min`` in the catalog stands for whatever serving window the workspace uses."""
    return "serving" if granularity.endswith("min") else granularity


def _judge(
    definition: MetricDefinition,
    points: dict[datetime, dict[str, Any]],
    slo: dict[str, float],
    zone: ZoneInfo,
    start: datetime | None,
) -> Iterable[Crossing]:
    threshold = definition.threshold
    assert threshold is not None
    level = definition.threshold_value(slo) if not threshold.relative else threshold.value
    for at, row in points.items():
        value = row["value"]
        if value is None or (start is not None and at < start) or math.isnan(value):
            continue
        if threshold.min_n is not None and (row["n"] or 0) < threshold.min_n:
            continue
        base = dict(
            metric=definition.name,
            subject=row["subject"],
            slice=row["slice"],
            granularity=row["granularity"],
            window_start=at,
            window_end=row["window_end"],
            value=value,
            threshold=threshold.describe(definition.slo, level if not threshold.relative else None),
            level=level,
        )
        if not threshold.relative:
            assert level is not None
            if (threshold.kind == "above" and value > level) or (threshold.kind == "below" and value < level):
                yield Crossing(**base)
            continue
        judged = _relative(
            threshold.kind,
            threshold.value or 0.0,
            threshold.min_z or 0.0,
            threshold.baseline,
            row,
            at,
            points,
            zone,
        )
        if judged is not None:
            yield Crossing(**base, baseline=judged[0], z=judged[1])


def _relative(
    kind: str,
    change: float,
    min_z: float,
    baseline_kind: str | None,
    row: dict[str, Any],
    at: datetime,
    points: dict[datetime, dict[str, Any]],
    zone: ZoneInfo,
) -> tuple[float, float] | None:
    """(baseline, z) when the point moved past the relative threshold, else None."""
    prior = _baseline_windows(baseline_kind, at, points, zone)
    if prior is None:
        return None
    if baseline_kind == "trailing_7d":
        base = sum(p["numerator"] or 0.0 for p in prior) / sum(p["denominator"] or 0.0 for p in prior)
        base_den = sum(p["denominator"] or 0.0 for p in prior)
    else:
        base = statistics.median(p["value"] for p in prior)
        base_den = statistics.median(p["denominator"] or 0.0 for p in prior) * len(prior)
    value = row["value"]
    moved = (value - base) / base if base else math.inf if value > 0 else 0.0
    if kind == "relative_drop" and moved > -change:
        return None
    if kind == "relative_rise" and moved < change:
        return None
    z = rate_z(value, row["denominator"] or 0.0, base, base_den)
    if z is None or abs(z) < min_z:
        return None
    # Only a move that would cross on binomial noise alone is worth measuring the
    # series' dispersion for (it needs a few hundred earlier windows).
    z /= math.sqrt(dispersion(points, at, zone))
    if abs(z) < min_z:
        return None
    return base, z


def _baseline_windows(
    baseline_kind: str | None, at: datetime, points: dict[datetime, dict[str, Any]], zone: ZoneInfo
) -> list[dict[str, Any]] | None:
    """The windows the baseline is made of, or None when there are too few.

    ``trailing_7d``: every window of the 7 days before with a denominator (at least one).
    ``same_weekday_4w``: the same local window 1 to 4 weeks earlier (at least two).
    """
    if baseline_kind == "trailing_7d":
        prior = [p for t, p in points.items() if at - WEEK <= t < at and p["denominator"]]
        return prior or None
    prior = []
    for weeks in range(1, 5):
        p = points.get(_same_time_weeks_before(at, weeks, zone))
        if p is not None and p["value"] is not None:
            prior.append(p)
    return prior if len(prior) >= 2 else None


def _same_time_weeks_before(at: datetime, weeks: int, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time ``weeks`` weeks earlier (across DST changes)."""
    local = at.astimezone(zone).replace(tzinfo=None)
    return (local - weeks * WEEK).replace(tzinfo=zone)


def rate_z(value: float, den: float, base: float, base_den: float) -> float | None:
    """How many binomial standard errors a rate ``value`` over ``den`` trials sits from
    ``base``, a baseline rate over ``base_den`` trials.

    Under "nothing changed" both are draws around one rate, estimated by pooling them
    (``p0``, the two-proportion test's null estimate), and their difference has the
    variance ``p0 (1 - p0) (1/den + 1/base_den)``. Pooling matters for rare events: a
    baseline of 0 with one event in the window is a small move, not an infinite one.

    Returns:
        z, or None when the value is not a rate (outside [0, 1]) or a side has no trials.
    """
    if den <= 0 or base_den <= 0 or not (0.0 <= value <= 1.0 and 0.0 <= base <= 1.0):
        return None
    p0 = (value * den + base * base_den) / (den + base_den)
    variance = p0 * (1.0 - p0) * (1.0 / den + 1.0 / base_den)
    if variance <= 0.0:
        return 0.0 if value == base else math.copysign(math.inf, value - base)
    return (value - base) / math.sqrt(variance)


def dispersion(points: dict[datetime, dict[str, Any]], at: datetime, zone: ZoneInfo) -> float:
    """The series' variance relative to binomial (quasi-binomial dispersion, at least 1),
    measured on its own history before ``at``.

    Real rates vary more than a binomial of their denominators: the counted units are
    clustered (the shown slots of a fallback request are all ``popular_fallback``; a
    user's clicks come together) and the true rate moves from week to week. Every window
    of the :data:`DISPERSION_WEEKS` weeks before ``at`` is paired with the same local
    window a week before it, which removes the daily and weekly cycle; with ``p`` the
    pair's pooled rate, ``d2 = (r1 - r2)^2 / (p (1 - p) (1/n1 + 1/n2))`` is a chi-square
    with one degree of freedom times the dispersion. The median of the ``d2`` over its
    median for a chi-square (0.4549) estimates the dispersion, unmoved by the few pairs an
    earlier incident makes. Pairs with fewer than :data:`MIN_EXPECTED` expected events
    (or non-events) on a side, where the chi-square does not hold, are left out; with
    fewer than :data:`MIN_PAIRS` pairs left the dispersion is 1.
    """
    ratios: list[float] = []
    for t, point in points.items():
        if not at - DISPERSION_WEEKS * WEEK <= t < at:
            continue
        earlier = points.get(_same_time_weeks_before(t, 1, zone))
        if earlier is None:
            continue
        (x1, n1), (x2, n2) = _counts(point), _counts(earlier)
        if n1 <= 0 or n2 <= 0 or not (0 <= x1 <= n1 and 0 <= x2 <= n2):
            continue
        pooled = (x1 + x2) / (n1 + n2)
        if min(pooled, 1.0 - pooled) * min(n1, n2) < MIN_EXPECTED:
            continue
        variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
        ratios.append((x1 / n1 - x2 / n2) ** 2 / variance)
    if len(ratios) < MIN_PAIRS:
        return 1.0
    return max(1.0, statistics.median(ratios) / CHI2_1_MEDIAN)


def _counts(point: dict[str, Any]) -> tuple[float, float]:
    return float(point["numerator"] or 0.0), float(point["denominator"] or 0.0)
