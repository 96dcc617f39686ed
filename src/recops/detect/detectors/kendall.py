"""Mann–Kendall trend tests, Theil–Sen slopes with confidence bounds, crossing forecasts.

Pure functions over arrays, used by the trend and drift-persistence detectors:

* :func:`mann_kendall`: S = Σ_{i<j} sign(y_j − y_i) over values in time order, with the
  tie-corrected variance Var(S) = [n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18 (t: sizes of
  groups of equal values) and the continuity-corrected z = (S − sign S) / √Var(S)
  (Kendall 1975; Hipel & McLeod 1994). Without the continuity correction its two-sided
  p-value equals ``scipy.stats.kendalltau(time, y)``'s.
* :func:`seasonal_mann_kendall`: the seasonal Kendall test (Hirsch, Slack & Smith 1982):
  S and Var(S) summed over seasons (weekdays for daily values), comparing each value
  only with the same season in other weeks, so a weekly cycle cannot pass for a trend.
* :func:`sen_slope`: the Theil–Sen slope (median of pairwise slopes) with Sen's (1968)
  confidence bounds from order statistics of the slopes, as ``scipy.stats.theilslopes``
  computes them; with seasons, the seasonal Kendall slope estimator (median of the
  within-season slopes) and the same bounds from the seasonal Var(S) (Gilbert 1987,
  §17.5).
* :func:`forecast_crossing`: when the fitted line crosses a level, with an interval from
  the slope bounds (lines pivoting about the data's centre: the median time and value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

_NORMAL = NormalDist()


@dataclass(frozen=True)
class MannKendall:
    """A Mann–Kendall statistic: S, its variance under no trend, and z."""

    s: float
    var: float
    z: float
    n: int

    def p_up(self) -> float:
        """One-sided p-value of an upward trend."""
        return 1.0 - _NORMAL.cdf(self.z)

    def p_down(self) -> float:
        return _NORMAL.cdf(self.z)

    def p_two_sided(self) -> float:
        return min(1.0, 2.0 * (1.0 - _NORMAL.cdf(abs(self.z))))


@dataclass(frozen=True)
class SenSlope:
    """A Theil–Sen (or seasonal Kendall) slope, intercept and confidence bounds."""

    slope: float
    intercept: float
    low: float
    high: float
    confidence: float


def _tie_term(values: NDArray[np.float64]) -> float:
    _, counts = np.unique(values, return_counts=True)
    t = counts[counts > 1].astype(float)
    return float(np.sum(t * (t - 1) * (2 * t + 5)))


def _s_and_var(y: NDArray[np.float64]) -> tuple[float, float]:
    n = len(y)
    if n < 2:
        return 0.0, 0.0
    diff = y[np.newaxis, :] - y[:, np.newaxis]  # diff[i, j] = y_j - y_i
    s = float(np.sum(np.sign(diff[np.triu_indices(n, k=1)])))
    var = (n * (n - 1) * (2 * n + 5) - _tie_term(y)) / 18.0
    return s, var


def _z(s: float, var: float, continuity: bool) -> float:
    if var <= 0 or s == 0:
        return 0.0
    adjusted = s - math.copysign(1.0, s) if continuity else s
    return adjusted / math.sqrt(var)


def mann_kendall(y: ArrayLike, *, continuity: bool = True) -> MannKendall:
    """The Mann–Kendall test of ``y`` (values in time order)."""
    arr = np.asarray(y, dtype=float)
    s, var = _s_and_var(arr)
    return MannKendall(s, var, _z(s, var, continuity), len(arr))


def _groups(seasons: ArrayLike, n: int) -> list[NDArray[np.intp]]:
    keys = np.asarray(seasons)
    if len(keys) != n:
        raise ValueError("one season per value")
    return [np.flatnonzero(keys == key) for key in np.unique(keys)]


def seasonal_mann_kendall(
    y: ArrayLike,
    seasons: ArrayLike,
    *,
    continuity: bool = True,
) -> MannKendall:
    """The seasonal Kendall test: values (in time order) compared only within their season."""
    arr = np.asarray(y, dtype=float)
    s = var = 0.0
    for idx in _groups(seasons, len(arr)):
        s_k, var_k = _s_and_var(arr[idx])
        s, var = s + s_k, var + var_k
    return MannKendall(s, var, _z(s, var, continuity), len(arr))


def _pair_slopes(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    dx = x[:, np.newaxis] - x
    dy = y[:, np.newaxis] - y
    positive = dx > 0
    return np.asarray(dy[positive] / dx[positive], dtype=float)


def sen_slope(
    x: ArrayLike,
    y: ArrayLike,
    *,
    confidence: float = 0.95,
    seasons: ArrayLike | None = None,
) -> SenSlope:
    """Theil–Sen slope of ``y`` on ``x`` with Sen's confidence bounds (seasonal if ``seasons``)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    groups = _groups(seasons, len(xs)) if seasons is not None else [np.arange(len(xs))]
    slope_parts, sigsq = [], 0.0
    for idx in groups:
        gx, gy = xs[idx], ys[idx]
        slope_parts.append(_pair_slopes(gx, gy))
        m = len(idx)
        sigsq += (m * (m - 1) * (2 * m + 5) - _tie_term(gx) - _tie_term(gy)) / 18.0
    slopes = np.sort(np.concatenate(slope_parts)) if slope_parts else np.array([])
    if slopes.size == 0:
        raise ValueError("a slope needs two values at different times")
    slope = float(np.median(slopes))
    intercept = float(np.median(ys) - slope * np.median(xs))
    z = _NORMAL.inv_cdf((1.0 - confidence) / 2.0)  # negative
    total, sigma = len(slopes), math.sqrt(max(sigsq, 0.0))
    upper = min(round((total - z * sigma) / 2.0), total - 1)
    lower = max(round((total + z * sigma) / 2.0) - 1, 0)
    return SenSlope(slope, intercept, float(slopes[lower]), float(slopes[upper]), confidence)


@dataclass(frozen=True)
class Crossing:
    """When a fitted line reaches ``level``, in days from ``now`` (``high`` None: unbounded)."""

    level: float
    days: float
    low: float
    high: float | None
    already: bool

    @property
    def text(self) -> str:
        if self.already:
            return f"already past {self.level:g}"
        # the interval is widened to whole days: its ends rounded outwards
        low = math.floor(round(self.low, 6))
        high = f"{math.ceil(round(self.high, 6))}" if self.high is not None else "more"
        return f"crosses {self.level:g} in about {self.days:.0f} days, {low}–{high}"

    def to_json(self) -> dict[str, object]:
        return {
            "level": self.level,
            "days": self.days,
            "low": self.low,
            "high": self.high,
            "already": self.already,
            "text": self.text,
        }


def forecast_crossing(
    fit: SenSlope,
    center_x: float,
    center_y: float,
    now: float,
    level: float,
    *,
    rising: bool,
    center_se: float = 0.0,
) -> Crossing | None:
    """When the trend reaches ``level`` from below (``rising``) or above; ``None`` if it is not heading there.

    The line with slope b through the anchor (``center_x``, ``center_y``) reaches
    ``level`` at ``center_x + (level − center_y) / b``. The point estimate uses the
    Theil–Sen slope; the interval the slope's confidence bounds, with the anchor moved by
    ± z·``center_se`` (z of the fit's confidence) toward the level for the early end and
    away from it for the late end, so an uncertain level widens the interval too. A slow
    bound with the wrong sign, or zero, leaves the late end unbounded. Days count from
    ``now``; a fitted line already at or past the level is ``already``.
    """
    sign = 1.0 if rising else -1.0
    fitted_now = center_y + fit.slope * (now - center_x)
    if sign * (fitted_now - level) >= 0:
        return Crossing(level, 0.0, 0.0, 0.0, already=True)
    if sign * fit.slope <= 0:
        return None  # flat or moving away
    shift = _NORMAL.inv_cdf(0.5 + fit.confidence / 2) * center_se

    def days(slope: float, anchor: float) -> float | None:
        if sign * slope <= 0:
            return None
        return max(0.0, center_x + (level - anchor) / slope - now)

    point = days(fit.slope, center_y)
    assert point is not None
    fast, slow = (fit.high, fit.low) if rising else (fit.low, fit.high)
    early = days(fast, center_y + sign * shift)
    late = days(slow, center_y - sign * shift)
    low = min(point, early) if early is not None else point
    high = max(point, late) if late is not None else None
    return Crossing(level, point, low, high, already=False)
