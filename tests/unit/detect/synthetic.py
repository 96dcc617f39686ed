"""Synthetic series with known answers for the detector tests.

Hourly traffic with a daily and a weekly cycle (weekend and holiday days are shaped
differently: daytime viewing, no commute peak), multiplicative day-to-day noise plus
Poisson noise, in a chosen time zone; white noise; steps and ramps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from recops.detect import SeriesPoint

T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def points(values: np.ndarray | list[float], step: timedelta = HOUR, t0: datetime = T0) -> list[SeriesPoint]:
    """Windows [t0 + i·step, t0 + (i+1)·step) with the given values."""
    return [
        SeriesPoint(at=t0 + (i + 1) * step, start=t0 + i * step, value=float(v)) for i, v in enumerate(values)
    ]


def white_noise(seed: int, n: int = 2000, mean: float = 0.0, sd: float = 1.0) -> np.ndarray:
    return mean + sd * np.random.default_rng(seed).standard_normal(n)


def weekday_shape(hour: int) -> float:
    """Working-day traffic: a commute bump at 8h and an evening peak at 20h."""
    return 0.25 + 0.35 * math.exp(-((hour - 8) ** 2) / 4) + 1.0 * math.exp(-((hour - 20) ** 2) / 8)


def weekend_shape(hour: int) -> float:
    """Weekend and holiday traffic: daytime viewing from late morning, no commute."""
    return 0.25 + 0.8 * math.exp(-((hour - 15) ** 2) / 18) + 0.8 * math.exp(-((hour - 20) ** 2) / 8)


@dataclass
class Traffic:
    """An hourly traffic volume series in ``zone``; ``holidays`` are shaped like Sundays × holiday_volume."""

    weeks: int = 10
    level: float = 2000.0
    noise: float = 0.03
    zone: ZoneInfo = BERLIN
    holidays: tuple[date, ...] = ()
    holiday_volume: float = 1.3
    seed: int = 0

    def expected(self, start_utc: datetime) -> float:
        local = start_utc.astimezone(self.zone)
        if local.date() in self.holidays:
            return self.level * self.holiday_volume * weekend_shape(local.hour)
        if local.weekday() >= 5:
            return self.level * 1.1 * weekend_shape(local.hour)
        return self.level * weekday_shape(local.hour)

    def values(self) -> tuple[list[datetime], np.ndarray]:
        rng = np.random.default_rng(self.seed)
        starts = [T0 + i * HOUR for i in range(self.weeks * 7 * 24)]
        mean = np.array([self.expected(s) for s in starts])
        days = np.repeat(rng.normal(0.0, self.noise, self.weeks * 7), 24)  # a day runs a bit high or low
        hours = rng.normal(0.0, self.noise / 2, len(starts))
        lam = mean * np.exp(days + hours)
        return starts, rng.poisson(lam).astype(float)

    def points(self) -> list[SeriesPoint]:
        starts, values = self.values()
        return [
            SeriesPoint(at=s + HOUR, start=s, value=float(v)) for s, v in zip(starts, values, strict=True)
        ]
