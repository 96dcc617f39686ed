"""Drift persistence: a feature's drift keeps rising, even while still under its threshold.

The drift family reports each feature's drift statistic per window (PSI, Jensen–Shannon,
...) against a threshold; a crossing is already flagged there. What it cannot see is a
statistic that climbs day after day at 0.4, 0.5, 0.6 of its threshold: an upstream
change rolling out slowly, a population moving away from the training data. This
detector tracks the *drift ratio* (statistic / threshold) over the last weeks and flags
a significant rise (one-sided Mann–Kendall, seasonal by weekday by default, as in the
trend detector), with the Theil–Sen rise per day and a forecast of when it reaches 1.0.

* ``warn``: rising significantly (p < ``alpha``) with the fitted ratio at least
  ``min_ratio`` and still under 1.0;
* ``alarm``: rising significantly and already at or above 1.0 (past the threshold and
  still getting worse);
* ``ok`` otherwise; ``insufficient`` until ``min_points`` values are in the window.

Score: the Mann–Kendall z past its critical value.
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
    converted,
    finite,
    parse_duration,
    to_jsonable,
)
from recops.detect.detectors.kendall import forecast_crossing
from recops.detect.detectors.trend import check_window
from recops.detect.detectors.trend_window import TrendWindow
from recops.errors import InvalidInput

_NORMAL = NormalDist()


@dataclass(frozen=True)
class DriftPersistenceParams:
    """Parameters of :class:`DriftPersistence`.

    Attributes:
        threshold: the drift statistic's threshold; each value is divided by it. ``None``
            (default): the points already carry the ratio.
        window: data time the test looks back over (default 28 days: "keeps rising over
            weeks", and four values per weekday for the seasonal test).
        min_points: values needed before judging (default 21, three weeks).
        seasonal: compare within weekdays (default on: drift against a fixed reference
            often has a weekly cycle, weekend traffic being a different population).
        zone: the time zone weekdays are taken in.
        alpha: one-sided significance level (default 0.01, as for trends).
        min_ratio: a rise is flagged only once the fitted ratio reaches this (default
            0.5: halfway to the threshold; a climb from 0.05 to 0.1 is noise-level drift
            nobody should be paged or ticketed for).
        confidence: of the slope bounds behind the forecast of reaching 1.0 (default 0.9).
    """

    threshold: float | None = None
    window: timedelta = timedelta(days=28)
    min_points: int = 21
    seasonal: bool = True
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    alpha: float = 0.01
    min_ratio: float = 0.5
    confidence: float = 0.9

    def __post_init__(self) -> None:
        check_window(self.window, self.min_points, self.alpha, self.confidence)
        if self.threshold is not None and self.threshold <= 0:
            raise InvalidInput(f"drift threshold must be positive, got {self.threshold}")
        if not 0 <= self.min_ratio < 1:
            raise InvalidInput(f"min_ratio must be in [0, 1), got {self.min_ratio}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftPersistenceParams:
        return cls(**converted(cls, data, window=parse_duration, zone=as_zone))


class DriftPersistence:
    """Flags a drift ratio that keeps rising (see the module docstring)."""

    name: ClassVar[str] = "drift_persistence"

    def __init__(self, params: DriftPersistenceParams | None = None) -> None:
        self._params = p = params or DriftPersistenceParams()
        self._window = TrendWindow(p.window, p.zone, p.seasonal)
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(self._params)  # shared by every state: read-only

    @property
    def params(self) -> DriftPersistenceParams:
        return self._params

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        p = self._params
        value = point.usable_value
        ratio = value / p.threshold if value is not None and p.threshold is not None else value
        if ratio is not None:
            self._window.add(point.at, point.window_start, ratio)
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": value,
            "ratio": ratio,
            "baseline": None,
            "bounds": {"min_ratio": p.min_ratio, "threshold_ratio": 1.0},
            "statistic": {"name": "mann_kendall_z", "value": None},
            "parameters": self._parameters,
        }
        status: Status = "insufficient"
        score = 0.0
        fit = self._window.fit(p.confidence) if len(self._window) >= p.min_points else None
        if fit is None:
            evidence["reason"] = f"{len(self._window)} of {p.min_points} values in the window"
        else:
            p_value = fit.test.p_up()
            z_crit = _NORMAL.inv_cdf(1 - p.alpha)
            level = fit.fitted_now
            rising = p_value < p.alpha
            if rising and level >= 1.0:
                status, score = "alarm", fit.test.z - z_crit
            elif rising and level >= p.min_ratio:
                status, score = "warn", fit.test.z - z_crit
            else:
                status = "ok"
            crossing = forecast_crossing(
                fit.slope, fit.center_x, fit.center_y, fit.now, 1.0, rising=True, center_se=fit.center_se
            )
            evidence.update(
                baseline=finite(level),
                statistic={"name": "mann_kendall_z", "value": finite(fit.test.z)},
                p_value=p_value,
                trend=fit.to_json(),
                forecast=crossing.to_json() if crossing is not None else None,
            )
        since = self._clock.tick(status, point.at)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, point.at)
