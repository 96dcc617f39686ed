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
  baseline), so a thin slice must move much further than a thick one, widened by the
  robust spread (1.4826 × MAD) of the baseline windows, since real rates vary more
  than a binomial from week to week;
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
    spread = 0.0
    if baseline_kind == "trailing_7d":
        prior = [p for t, p in points.items() if at - WEEK <= t < at and p["denominator"]]
        num = sum(p["numerator"] or 0.0 for p in prior)
        den = sum(p["denominator"] or 0.0 for p in prior)
        if not prior or den <= 0:
            return None
        base, base_den = num / den, den
    else:
        local = at.astimezone(zone)
        prior = []
        for weeks in range(1, 5):
            earlier = (local.replace(tzinfo=None) - weeks * WEEK).replace(tzinfo=zone)
            p = points.get(earlier)
            if p is not None and p["value"] is not None:
                prior.append(p)
        if len(prior) < 2:
            return None
        values = [p["value"] for p in prior]
        base = statistics.median(values)
        base_den = statistics.median(p["denominator"] or 0.0 for p in prior) * len(prior)
        # Real rates are overdispersed (bursty fallbacks, weekly swings): the spread of the
        # baseline windows themselves joins the binomial error when there are enough.
        spread = 1.4826 * statistics.median(abs(v - base) for v in values) if len(values) >= 3 else 0.0
    value = row["value"]
    moved = (value - base) / base if base else math.inf if value > 0 else 0.0
    if kind == "relative_drop" and moved > -change:
        return None
    if kind == "relative_rise" and moved < change:
        return None
    den = row["denominator"]
    if not den or base_den <= 0:
        return None
    pooled = min(max(base, 1e-12), 1 - 1e-12) if 0 <= base <= 1 else None
    if pooled is None:
        return None  # not a rate: no binomial error to weigh the move against
    z = (value - base) / math.sqrt(pooled * (1 - pooled) * (1 / den + 1 / base_den) + spread**2)
    if abs(z) < min_z:
        return None
    return base, z
