"""The sliding window of values a trend test runs over (trend, drift persistence).

Keeps the points of the last ``span`` of data time as (time in days, weekday, value)
and fits them: Mann–Kendall (plain, or seasonal by local weekday) and the matching
Theil–Sen slope with confidence bounds, plus the anchor the forecast pivots about (the
median time and value of the last week) and the anchor's standard error.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from recops.detect.detectors.base import finite
from recops.detect.detectors.kendall import (
    MannKendall,
    SenSlope,
    mann_kendall,
    seasonal_mann_kendall,
    sen_slope,
)
from recops.detect.detectors.seasonal_baseline import MAD_TO_SD

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The forecast pivots about the last week's median time and value: a slide that began
# mid-window leaves the window's centre behind, and a whole week balances the weekly cycle.
ANCHOR_DAYS = 7.0
DAY = 86400.0


def days_since_epoch(at: datetime) -> float:
    return (at - EPOCH).total_seconds() / DAY


@dataclass(frozen=True)
class TrendFit:
    """A fitted window: the test, the slope (per day), the centre and "now" in days."""

    test: MannKendall
    slope: SenSlope
    center_x: float
    center_y: float
    now: float
    n: int
    seasonal: bool
    center_se: float = 0.0

    @property
    def fitted_now(self) -> float:
        return self.center_y + self.slope.slope * (self.now - self.center_x)

    def to_json(self) -> dict[str, Any]:
        return {
            "test": "seasonal_mann_kendall" if self.seasonal else "mann_kendall",
            "s": self.test.s,
            "var_s": self.test.var,
            "z": finite(self.test.z),
            "n": self.n,
            "slope_per_day": finite(self.slope.slope),
            "slope_low": finite(self.slope.low),
            "slope_high": finite(self.slope.high),
            "confidence": self.slope.confidence,
            "fitted_now": finite(self.fitted_now),
            "level_se": finite(self.center_se),
        }


class TrendWindow:
    """Values of the last ``span`` of data time, fitted on demand."""

    def __init__(self, span: timedelta, zone: ZoneInfo, seasonal: bool) -> None:
        self.span, self.zone, self.seasonal = span, zone, seasonal
        self._items: deque[tuple[datetime, float, int, float]] = deque()

    def add(self, at: datetime, start: datetime, value: float) -> None:
        weekday = start.astimezone(self.zone).weekday()
        self._items.append((at, days_since_epoch(at), weekday, value))
        cutoff = at - self.span
        while self._items and self._items[0][0] <= cutoff:
            self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)

    def fit(self, confidence: float) -> TrendFit | None:
        """The fit, or ``None`` when no two values are at different times (per season)."""
        x = np.array([i[1] for i in self._items])
        y = np.array([i[3] for i in self._items])
        seasons = np.array([i[2] for i in self._items]) if self.seasonal else None
        try:
            slope = sen_slope(x, y, confidence=confidence, seasons=seasons)
        except ValueError:
            return None
        test = seasonal_mann_kendall(y, seasons) if seasons is not None else mann_kendall(y)
        recent = x > x[-1] - ANCHOR_DAYS
        center_x, center_y = float(np.median(x[recent])), float(np.median(y[recent]))
        # the anchor's standard error: a median of the recent values, whose spread about
        # the fitted line is estimated robustly from the whole window
        spread = MAD_TO_SD * float(np.median(np.abs(y - (center_y + slope.slope * (x - center_x)))))
        center_se = spread * math.sqrt(math.pi / 2 / int(np.sum(recent)))
        return TrendFit(test, slope, center_x, center_y, float(x[-1]), len(x), self.seasonal, center_se)
