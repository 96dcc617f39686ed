"""Slow degradation: a significant trend, and when it will cross the threshold.

Over a sliding window of daily values (default the last 28 days) the detector runs a
Mann–Kendall test and fits a Theil–Sen slope (per day) with confidence bounds (see
:mod:`recops.detect.detectors.kendall`). By default both are *seasonal* by local
weekday (Hirsch et al. 1982): each value is compared only with the same weekday of
other weeks, because daily values of real traffic carry a weekly cycle, and in a window
that starts mid-week that cycle alone can look like a trend to the plain test. From the
slope it forecasts when the series crosses its threshold, with an interval from the
slope's bounds: "crosses 0.045 in about 9 days, 6–13".

* ``alarm``: the trend toward the threshold is significant (one-sided p < ``alpha``)
  *and* the forecast crossing is within ``horizon`` (28 days), or already happened;
* ``warn``: significant and moving toward the threshold, crossing later (or no
  threshold given: any significant trend on a bad side);
* ``ok`` otherwise; ``insufficient`` until ``min_points`` values are in the window.

Score: for ``alarm``, days the forecast crossing is sooner than the horizon; for
``warn``, the Mann–Kendall z past its critical value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import NormalDist
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from recops.detect.detectors.base import (
    DetectorState,
    SeriesPoint,
    Status,
    StatusClock,
    TimeOrder,
    as_zone,
    bad_sides,
    converted,
    finite,
    parse_duration,
    to_jsonable,
)
from recops.detect.detectors.kendall import forecast_crossing
from recops.detect.detectors.trend_window import TrendWindow
from recops.errors import InvalidInput

_NORMAL = NormalDist()


def check_window(window: timedelta, min_points: int, alpha: float, confidence: float) -> None:
    if window <= timedelta(0) or min_points < 3:
        raise InvalidInput("a trend window must be positive and hold at least 3 points")
    if not 0 < alpha < 0.5 or not 0 < confidence < 1:
        raise InvalidInput(f"need 0 < alpha < 0.5 and 0 < confidence < 1, got {alpha} and {confidence}")


@dataclass(frozen=True)
class TrendParams:
    """Parameters of :class:`TrendDetector`.

    Attributes:
        threshold: the level the series must not cross (the metric's SLO or default
            threshold); ``None``: only a significant trend on a bad side, as ``warn``.
        relative_threshold: instead of a level, a share of the series' own fitted level
            at the start of the window: 0.1 on a ``down_is_bad`` series means "10% below
            where it was ``window`` ago" (the catalog's relative thresholds).
        direction: the catalog direction. With a threshold, ``both_bad``/``neutral`` take
            the side the threshold is on; without, they watch both sides.
        window: data time the test looks back over (default 28 days: four whole weeks,
            so each weekday has 4 values, enough for a seasonal test to reach
            significance on a steady slide, short enough that a slide which began two
            weeks ago dominates the fit).
        min_points: values needed before judging (default 21: three weeks, the least
            at which a seasonal test with 7 weekdays can reach p < 0.01).
        seasonal: test and slope within weekdays (default on, see the module docstring);
            off gives the plain Mann–Kendall test and Theil–Sen slope.
        zone: the time zone weekdays are taken in.
        alpha: one-sided significance level (default 0.01: the test is repeated every
            day over overlapping windows, so 0.05 would flag a flat series several times
            a year).
        horizon: alarm when the forecast crossing is at most this far ahead (default 28
            days: time to plan a retrain or a fix before the SLO is breached).
        confidence: of the slope bounds behind the forecast interval (default 0.9; a
            95% bound is often unbounded on the slow side over four weeks).
    """

    threshold: float | None = None
    relative_threshold: float | None = None
    direction: str = "both_bad"
    window: timedelta = timedelta(days=28)
    min_points: int = 21
    seasonal: bool = True
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    alpha: float = 0.01
    horizon: timedelta = timedelta(days=28)
    confidence: float = 0.9

    def __post_init__(self) -> None:
        bad_sides(self.direction)
        check_window(self.window, self.min_points, self.alpha, self.confidence)
        if self.relative_threshold is not None:
            if self.threshold is not None:
                raise InvalidInput("give a trend a threshold or a relative_threshold, not both")
            r, direction = self.relative_threshold, self.direction
            falls = direction == "down_is_bad"
            if direction not in ("up_is_bad", "down_is_bad") or r <= 0 or (falls and r >= 1):
                raise InvalidInput(
                    "a relative_threshold needs direction up_is_bad (any share above 0) or "
                    "down_is_bad (a share between 0 and 1)"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrendParams:
        return cls(**converted(cls, data, window=parse_duration, horizon=parse_duration, zone=as_zone))


class TrendDetector:
    """Significant slow trends and their forecast crossing (see the module docstring)."""

    name: ClassVar[str] = "trend"

    def __init__(self, params: TrendParams | None = None) -> None:
        self._params = p = params or TrendParams()
        self._window = TrendWindow(p.window, p.zone, p.seasonal)
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(self._params)  # shared by every state: read-only

    @property
    def params(self) -> TrendParams:
        return self._params

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        p = self._params
        value = point.usable_value
        if value is not None:
            self._window.add(point.at, point.window_start, value)
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": value,
            "baseline": None,
            "bounds": {"threshold": p.threshold, "horizon_days": p.horizon / timedelta(days=1)},
            "statistic": {"name": "mann_kendall_z", "value": None},
            "parameters": self._parameters,
        }
        status: Status = "insufficient"
        score = 0.0
        fit = self._window.fit(p.confidence) if len(self._window) >= p.min_points else None
        if fit is None:
            evidence["reason"] = f"{len(self._window)} of {p.min_points} values in the window"
        else:
            rise_bad, fall_bad = bad_sides(p.direction)
            threshold = p.threshold
            if p.relative_threshold is not None:
                window_start = fit.now - p.window / timedelta(days=1)
                start = fit.center_y + fit.slope.slope * (window_start - fit.center_x)
                threshold = start * (1 + p.relative_threshold if rise_bad else 1 - p.relative_threshold)
            if threshold is not None and rise_bad and fall_bad:
                rise_bad = fall_bad = False
                if threshold > fit.fitted_now:
                    rise_bad = True
                else:
                    fall_bad = True
            z = fit.test.z
            if rise_bad and fall_bad:
                p_value, z_crit, rising = fit.test.p_two_sided(), _NORMAL.inv_cdf(1 - p.alpha / 2), z > 0
            else:
                rising = rise_bad
                p_value = fit.test.p_up() if rising else fit.test.p_down()
                z_crit = _NORMAL.inv_cdf(1 - p.alpha)
            significant = p_value < p.alpha
            crossing = None
            if threshold is not None:
                crossing = forecast_crossing(
                    fit.slope,
                    fit.center_x,
                    fit.center_y,
                    fit.now,
                    threshold,
                    rising=rising,
                    center_se=fit.center_se,
                )
            horizon_days = p.horizon / timedelta(days=1)
            if significant and crossing is not None and crossing.days <= horizon_days:
                status, score = "alarm", horizon_days - crossing.days
            elif significant:
                status, score = "warn", abs(z) - z_crit
            else:
                status = "ok"
            evidence["bounds"]["threshold"] = finite(threshold) if threshold is not None else None
            evidence.update(
                baseline=finite(fit.fitted_now),
                statistic={"name": "mann_kendall_z", "value": finite(z)},
                p_value=p_value,
                side="up" if rising else "down",
                trend=fit.to_json(),
                forecast=crossing.to_json() if crossing is not None else None,
            )
        since = self._clock.tick(status, point.at)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, point.at)
