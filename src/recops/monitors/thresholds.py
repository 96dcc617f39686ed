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
* a relative threshold on a series that is not a rate (no denominator: a latency
  percentile): the baseline is the median of the baseline windows and the standard
  error is the series' own week-over-week spread on the log scale (:func:`log_z`);
* ``above`` / ``below`` with ``evidence`` (a quantile against its SLO): the value passes
  the level *and* the evidence point of the same subject, slice and window (its
  numerator counts the observations past the level) shows a share past the level at
  least ``min_z`` binomial standard errors beyond what the quantile allows
  (:func:`share_z`), divided by the square root of the evidence series' dispersion;
* only the window sizes the catalog lists for the metric are judged;
* ``min_n``: points with fewer observations are not judged.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
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
#: The share of a series' week-over-week log moves its noise scale is read at, and the
#: standard normal quantile of that share (two-sided): see :func:`log_z`.
TAIL_SHARE = 0.95
TAIL_Z = 1.959963984540054
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
        sizes = {_size_name(g) for g in definition.granularities}
        evidence = definition.threshold.evidence
        proof: dict[tuple[str, str, str], dict[datetime, dict[str, Any]]] = {}
        if evidence is not None:  # its dispersion is measured on its 4 weeks before the first window
            since = start - 5 * WEEK if start is not None else None
            proof = _series_by_key(store, evidence, sizes, granularity, since, end)
        for key, points in _series_by_key(store, name, sizes, granularity, history, end).items():
            proved = proof.get(key, {}) if evidence is not None else None
            found.extend(_judge(definition, points, slo, zone, start, proved))
    return sorted(found, key=lambda c: (c.window_start, c.metric, c.subject, c.slice))


def _series_by_key(
    store: Store,
    metric: str,
    sizes: set[str],
    granularity: str | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[tuple[str, str, str], dict[datetime, dict[str, Any]]]:
    """(subject, slice, granularity) → window start → point, for the window sizes judged."""
    series: dict[tuple[str, str, str], dict[datetime, dict[str, Any]]] = defaultdict(dict)
    for row in read_series(store, metric, granularity=granularity, start=start, end=end).to_pylist():
        if _size_name(row["granularity"]) in sizes:  # else the catalog judges it on other sizes
            series[(row["subject"], row["slice"], row["granularity"])][row["window_start"]] = row
    return series


def _size_name(granularity: str) -> str:
    """``5min`` in the catalog stands for whatever serving window the workspace uses."""
    return "serving" if granularity.endswith("min") else granularity


def _judge(
    definition: MetricDefinition,
    points: dict[datetime, dict[str, Any]],
    slo: dict[str, float],
    zone: ZoneInfo,
    start: datetime | None,
    evidence: dict[datetime, dict[str, Any]] | None = None,
) -> Iterable[Crossing]:
    """The crossings of one series (``evidence``: the evidence series of the same subject,
    slice and granularity, when the threshold asks for one)."""
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
            if value <= level if threshold.kind == "above" else value >= level:
                continue
            if evidence is None:
                yield Crossing(**base)
                continue
            z = _evidence_z(threshold.allowed_share, evidence, at, zone)
            if z is not None and z >= (threshold.min_z or 0.0):
                yield Crossing(**base, baseline=threshold.allowed_share, z=z)
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
    rate = row["denominator"] is not None
    if baseline_kind == "trailing_7d" and rate:
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
    if not rate:  # a latency, a count: no binomial error, the series' own spread instead
        z = log_z(value, base, len(prior), points, at, zone)
        return (base, z) if z is not None and abs(z) >= min_z else None
    z = rate_z(value, row["denominator"] or 0.0, base, base_den)
    if z is None or abs(z) < min_z:
        return None
    # Only a move that would cross on binomial noise alone is worth measuring the
    # series' dispersion for (it needs a few hundred earlier windows).
    z /= math.sqrt(dispersion(points, at, zone))
    if abs(z) < min_z:
        return None
    return base, z


def log_z(
    value: float, base: float, k: int, points: dict[datetime, dict[str, Any]], at: datetime, zone: ZoneInfo
) -> float | None:
    """How many standard errors a positive value sits from ``base``, the median of ``k``
    baseline windows, on the log scale, for a series that is not a rate (a latency).

    The noise is the series' own: ``d`` is the log ratio of each window of the
    :data:`DISPERSION_WEEKS` weeks before ``at`` to the same local window a week before it
    (which removes the daily and weekly cycle). Its scale is read off the tail, not the
    middle: 95% of the absolute deviations of ``d`` from its median lie within ``1.96 s``
    (``s`` the standard deviation if ``d`` were normal), and a window's log noise is
    ``sigma = s / sqrt(2)``. Latency percentiles move with heavy tails (the p95 of 500
    requests follows a dozen fallbacks of one user), where a MAD would take the calm
    middle for the scale; the 95th percentile ignores the pairs an earlier incident makes
    as long as they are under 5% of them. The move ``log(value / base)`` has the standard
    error ``sigma sqrt(1 + pi / (2 k))`` (the median of ``k`` windows has about
    ``pi / (2 k)`` times a window's variance).

    Returns:
        z, or None when a side is not positive or fewer than :data:`MIN_PAIRS` pairs exist.
    """
    if value <= 0.0 or base <= 0.0 or k < 1:
        return None
    logs: list[float] = []
    for point, earlier in _week_pairs(points, at, zone):
        v1, v2 = point["value"], earlier["value"]
        if v1 is not None and v2 is not None and v1 > 0 and v2 > 0:
            logs.append(math.log(v1 / v2))
    if len(logs) < MIN_PAIRS:
        return None
    center = statistics.median(logs)
    deviations = sorted(abs(d - center) for d in logs)
    sigma = deviations[math.ceil(TAIL_SHARE * len(deviations)) - 1] / TAIL_Z / math.sqrt(2.0)
    moved = math.log(value / base)
    if sigma <= 0.0:
        return 0.0 if moved == 0.0 else math.copysign(math.inf, moved)
    return moved / (sigma * math.sqrt(1.0 + math.pi / (2 * k)))


def _evidence_z(
    allowed: float, evidence: dict[datetime, dict[str, Any]], at: datetime, zone: ZoneInfo
) -> float | None:
    """How far the window's share past the level is beyond ``allowed``, in standard errors
    widened by the evidence series' dispersion (None: no evidence point for the window)."""
    point = evidence.get(at)
    if point is None:
        return None
    z = share_z(*_counts(point), allowed)
    if z is None:
        return None
    return z / math.sqrt(dispersion(evidence, at, zone))


def share_z(past: float, total: float, allowed: float) -> float | None:
    """How many binomial standard errors the share ``past / total`` lies above ``allowed``.

    A quantile ``q`` of the observations passes a level exactly when more than ``1 - q``
    of them lie past it; under "the true quantile sits at the level" the count past it is
    binomial with that share, so ``z = (past - total * allowed) / sqrt(total * allowed *
    (1 - allowed))`` (the one-sample test of a proportion).

    Returns:
        z, or None when there are no observations or the counts are not a share.
    """
    if total <= 0 or not 0 <= past <= total or not 0.0 < allowed < 1.0:
        return None
    return (past - total * allowed) / math.sqrt(total * allowed * (1.0 - allowed))


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
    for point, earlier in _week_pairs(points, at, zone):
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


def _week_pairs(
    points: dict[datetime, dict[str, Any]], at: datetime, zone: ZoneInfo
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Every window of the :data:`DISPERSION_WEEKS` weeks before ``at`` with the same local
    window a week before it, when both are stored (the daily and weekly cycle removed)."""
    for t, point in points.items():
        if at - DISPERSION_WEEKS * WEEK <= t < at:
            earlier = points.get(_same_time_weeks_before(t, 1, zone))
            if earlier is not None:
                yield point, earlier


def _counts(point: dict[str, Any]) -> tuple[float, float]:
    return float(point["numerator"] or 0.0), float(point["denominator"] or 0.0)
