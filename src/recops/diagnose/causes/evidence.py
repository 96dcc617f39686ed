"""The arithmetic every cause shares: a series' shift, its materiality, association, timing.

A hypothesis scores ``evidence × link × alignment`` (decision 0036):

* **evidence** (:func:`evidence`): the cause really happened and matters: the
  significance of its series' move between the baseline and the current period
  (:func:`shift`, Bonferroni over the series a cause module tests) times its
  *materiality* (:func:`materiality`), how far the move goes towards the metric's own
  alert line (its catalog threshold) or, without one, towards a 50 % change;
* **link** (:func:`association` or a structural fact): the share of the metric's move the
  cause can account for;
* **alignment** (:func:`alignment`): the cause started before the move, not long before.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from recops.catalog import MetricDefinition
from recops.diagnose.causes.points import Series, Window
from recops.diagnose.contribution import Period, z_two_proportions

#: Without a catalog threshold, a move of this relative size counts as fully material.
DEFAULT_RELATIVE = 0.5
#: A cause starting this long before the move's first window is fully aligned ...
ALIGN_GRACE = timedelta(hours=6)
#: ... and its alignment halves with every further half-life of lead time.
ALIGN_HALF_LIFE = timedelta(hours=12)
_MAD = 1.4826


@dataclass(frozen=True)
class Shift:
    """How one series moved from the baseline period to the current one.

    Attributes:
        baseline, current: the pooled value of each period (a ratio's pooled rate, a
            count's sum with the baseline scaled to the current number of windows, a
            level's baseline median and current mean).
        change: ``current - baseline``.
        relative: ``change / baseline`` (``None`` for a zero baseline).
        z: the change in standard errors; p: its two-sided p-value.
        method: ``proportion``, ``poisson`` or ``windows`` (spread of the baseline windows).
        current_windows, baseline_windows: the windows pooled.
    """

    baseline: float
    current: float
    change: float
    relative: float | None
    z: float | None
    p: float
    method: str
    current_windows: int
    baseline_windows: int

    def to_json(self) -> dict[str, object]:
        return {
            "baseline": _finite(self.baseline),
            "current": _finite(self.current),
            "change": _finite(self.change),
            "relative_change": _finite(self.relative),
            "z": _finite(self.z),
            "p_value": _finite(self.p),
            "method": self.method,
            "current_windows": self.current_windows,
            "baseline_windows": self.baseline_windows,
        }


def shift(series: Series, current: Period, baseline: Period, *, unit: str = "") -> Shift | None:
    """The series' move from ``baseline`` to ``current``; ``None`` without windows in both."""
    cur = [w for w in series.within(current) if _has_value(w)]
    base = [w for w in series.within(baseline) if _has_value(w)]
    if not cur or not base:
        return None
    if all(_is_ratio(w) for w in cur + base):
        n1 = sum(w.numerator or 0.0 for w in cur)
        d1 = sum(w.denominator or 0.0 for w in cur)
        n0 = sum(w.numerator or 0.0 for w in base)
        d0 = sum(w.denominator or 0.0 for w in base)
        r1, r0 = n1 / d1, n0 / d0
        if all((w.numerator or 0.0) <= (w.denominator or 0.0) * (1 + 1e-9) for w in cur + base):
            z = z_two_proportions(n1, d1, n0, d0)
            return _make(r0, r1, z, "proportion", cur, base)
        return _windows_shift([_rate(w) for w in base], [_rate(w) for w in cur], r0, r1, cur, base)
    values1 = [float(w.value) for w in cur if w.value is not None]
    values0 = [float(w.value) for w in base if w.value is not None]
    if unit == "count":
        k = len(values1) / len(values0)
        c, b = sum(values1), sum(values0)
        variance = c + k * k * b
        z = (c - k * b) / math.sqrt(variance) if variance > 0 else 0.0
        return _make(k * b, c, z, "poisson", cur, base)
    return _windows_shift(values0, values1, statistics.median(values0), statistics.fmean(values1), cur, base)


def _windows_shift(
    base_values: Sequence[float],
    cur_values: Sequence[float],
    level0: float,
    level1: float,
    cur: Sequence[Window],
    base: Sequence[Window],
) -> Shift:
    """A level compared with the spread of the baseline windows (robust: median absolute deviation).

    The spread is floored at 1 % of the baseline level, so a constant series moving a little
    is not infinitely significant.
    """
    centre = statistics.median(base_values)
    spread = _MAD * statistics.median(abs(v - centre) for v in base_values)
    spread = max(spread, 0.01 * abs(centre), 1e-9)
    z = (level1 - level0) / (spread / math.sqrt(len(cur_values)))
    return _make(level0, level1, z, "windows", cur, base)


def _make(
    b: float, c: float, z: float | None, method: str, cur: Sequence[Window], base: Sequence[Window]
) -> Shift:
    return Shift(
        baseline=b,
        current=c,
        change=c - b,
        relative=(c / b - 1) if b != 0 else None,
        z=z,
        p=p_two_sided(z),
        method=method,
        current_windows=len(cur),
        baseline_windows=len(base),
    )


def p_two_sided(z: float | None) -> float:
    """Two-sided normal p-value of ``z`` (1 for none, 0 for an infinite one)."""
    if z is None or math.isnan(z):
        return 1.0
    return math.erfc(abs(z) / math.sqrt(2)) if math.isfinite(z) else 0.0


def significance(p: float, tests: int, alpha: float) -> float:
    """``max(0, 1 - p' / alpha)`` with ``p'`` Bonferroni-adjusted over ``tests``: 0 unless significant."""
    adjusted = min(1.0, p * max(tests, 1))
    return max(0.0, 1.0 - adjusted / alpha)


def bad_sign(direction: str, observed: float) -> float:
    """+1 when a move of sign ``observed`` goes the bad way for a metric of ``direction``, else 0
    (``both_bad`` and ``neutral``: either way is bad)."""
    if direction == "up_is_bad":
        return 1.0 if observed > 0 else 0.0
    if direction == "down_is_bad":
        return 1.0 if observed < 0 else 0.0
    return 1.0 if observed != 0 else 0.0


def materiality(
    definition: MetricDefinition | None,
    moved: Shift,
    slo: Mapping[str, float],
    *,
    direction: str | None = None,
    use_threshold: bool = True,
) -> float:
    """How far the move goes, in its bad direction, towards the metric's own alert line, in [0, 1].

    * a relative threshold (``-10 %`` CTR): the relative move over that fraction;
    * a static level (``above 0.05``, ``above slo``): the distance covered from the baseline
      to the level (1 once past it); when the baseline is already past, as without one:
    * no threshold: the relative move over :data:`DEFAULT_RELATIVE` (a move from 0 counts 1).

    ``direction`` overrides the definition's; ``use_threshold=False`` ignores its threshold
    (a stage's p99 is not judged against the end-to-end SLO).
    """
    direction = direction or (definition.direction if definition is not None else "both_bad")
    if bad_sign(direction, moved.change) == 0.0:
        return 0.0
    size = abs(moved.relative) if moved.relative is not None else (1.0 if moved.change else 0.0)
    threshold = definition.threshold if definition is not None and use_threshold else None
    if threshold is not None and threshold.relative and threshold.value:
        return _clamp(size / threshold.value)
    if threshold is not None and definition is not None:
        try:
            level = definition.threshold_value(slo)
        except Exception:  # an SLO missing from the config: judge it as if without threshold
            level = None
        if level is not None:
            gap = level - moved.baseline if threshold.kind == "above" else moved.baseline - level
            if gap > 0:
                covered = moved.change if threshold.kind == "above" else -moved.change
                return _clamp(covered / gap)
    return _clamp(size / DEFAULT_RELATIVE)


# -- association ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Association:
    """How two series' deviations from their baselines go together across windows and slices.

    Attributes:
        rho: weighted Pearson correlation of the oriented deviations (positive: the cause
            deviated where and when the metric moved).
        p: its one-sided p-value (Fisher's z with the number of distinct windows, not of
            cells, since the slices of one window overlap).
        cells: (window, slice) cells used; windows: distinct windows among them.
        link: ``max(0, rho) * significance(p)``.
    """

    rho: float
    p: float
    cells: int
    windows: int
    link: float

    def to_json(self) -> dict[str, object]:
        return {
            "rho": round(self.rho, 4),
            "p_value": _finite(self.p),
            "cells": self.cells,
            "windows": self.windows,
            "link": round(self.link, 4),
        }


def association(
    cells: Sequence[tuple[datetime, float, float, float]], *, alpha: float, tests: int = 1
) -> Association | None:
    """Weighted correlation of ``(window, x, y, weight)`` cells; ``None`` below 4 windows or no spread."""
    windows = len({c[0] for c in cells})
    if windows < 4:
        return None
    total = sum(c[3] for c in cells)
    if total <= 0:
        return None
    mx = sum(c[1] * c[3] for c in cells) / total
    my = sum(c[2] * c[3] for c in cells) / total
    sxy = sum(c[3] * (c[1] - mx) * (c[2] - my) for c in cells)
    sxx = sum(c[3] * (c[1] - mx) ** 2 for c in cells)
    syy = sum(c[3] * (c[2] - my) ** 2 for c in cells)
    if sxx <= 0 or syy <= 0:
        return None
    rho = max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))
    z = math.atanh(min(rho, 0.999999)) * math.sqrt(max(windows - 3, 1))
    p = 0.5 * math.erfc(z / math.sqrt(2))  # one-sided: only a positive association links
    link = max(0.0, rho) * significance(p, tests, alpha)
    return Association(rho=rho, p=p, cells=len(cells), windows=windows, link=link)


def window_value(w: Window) -> float | None:
    """A window's value as compared across windows: a ratio's rate, else the value."""
    if _is_ratio(w):
        return _rate(w)
    return float(w.value) if w.value is not None else None


def deviations(
    series: Series, span: Period, pair_shift: timedelta | None, baseline: Period
) -> dict[datetime, float]:
    """Each window of ``span``: its value minus its baseline.

    The baseline of a window is the same window ``pair_shift`` earlier (the week before:
    the daily and weekly cycles cancel) when given and stored, else the pooled value of
    the ``baseline`` period.
    """
    pooled = _pooled(series.within(baseline))
    out: dict[datetime, float] = {}
    for w in series.within(span):
        value = window_value(w)
        if value is None:
            continue
        reference: float | None = None
        if pair_shift is not None:
            earlier = series.at(w.start - pair_shift)
            reference = window_value(earlier) if earlier is not None else None
        if reference is None:
            reference = pooled
        if reference is not None:
            out[w.start] = value - reference
    return out


def _pooled(windows: Sequence[Window]) -> float | None:
    usable = [w for w in windows if _has_value(w)]
    if not usable:
        return None
    if all(_is_ratio(w) for w in usable):
        return sum(w.numerator or 0.0 for w in usable) / sum(w.denominator or 0.0 for w in usable)
    return statistics.median(float(w.value) for w in usable if w.value is not None)


# -- timing --------------------------------------------------------------------------------------


def onset(devs: Mapping[datetime, float], current: Period, sign: float) -> datetime | None:
    """When the deviation that is there now began: the start of the run of windows, ending in
    the current period, whose deviation (times ``sign``) is at least half the current mean.

    ``None`` when the current period shows no deviation that way.
    """
    now = [sign * v for t, v in devs.items() if current.start <= t < current.end]
    if not now:
        return None
    level = statistics.fmean(now)
    if level <= 0:
        return None
    first = min(t for t in devs if current.start <= t < current.end)
    start = first
    for t in sorted((t for t in devs if t < current.start), reverse=True):
        if sign * devs[t] >= level / 2:
            start = t
        else:
            break
    return start


def alignment(cause_onset: datetime | None, move: Period, *, grace: timedelta = ALIGN_GRACE) -> float:
    """1 for a cause that began at most ``grace`` before the move's first window (or during the
    move), halving per :data:`ALIGN_HALF_LIFE` of extra lead, 0 for one that began after
    the move; 1 when the cause's start is unknown (it is there now, as the move is)."""
    if cause_onset is None:
        return 1.0
    if cause_onset >= move.end:
        return 0.0
    lead = move.start - grace - cause_onset
    if lead <= timedelta(0):
        return 1.0
    return float(0.5 ** (lead / ALIGN_HALF_LIFE))


# -- small helpers -------------------------------------------------------------------------------


def _is_ratio(w: Window) -> bool:
    return w.numerator is not None and w.denominator is not None and w.denominator > 0


def _rate(w: Window) -> float:
    return (w.numerator or 0.0) / (w.denominator or 1.0)


def _has_value(w: Window) -> bool:
    return _is_ratio(w) or (w.value is not None and math.isfinite(w.value))


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def clamp(x: float) -> float:
    """``x`` limited to [0, 1]."""
    return _clamp(x)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
