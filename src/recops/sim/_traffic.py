"""Request arrival times: daily and weekly seasonality in the audience's time zone,
day-to-day noise, and the traffic incidents (spikes, holidays)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt

from recops.sim._clock import HOUR, MINUTE
from recops.sim._plan import Plan

BUCKET_MS = 5 * MINUTE

# Relative volume by local hour of day: low at night, a long evening peak.
HOURLY = np.array([
    0.35, 0.22, 0.14, 0.10, 0.08, 0.09, 0.16, 0.30, 0.42, 0.48, 0.52, 0.56,
    0.62, 0.62, 0.60, 0.62, 0.70, 0.85, 1.05, 1.35, 1.60, 1.65, 1.35, 0.80,
])  # fmt: skip
# Daytime viewing on weekends and holidays.
DAYTIME = np.array([
    0.40, 0.25, 0.15, 0.10, 0.08, 0.09, 0.14, 0.30, 0.60, 0.85, 1.00, 1.05,
    1.10, 1.10, 1.05, 1.05, 1.05, 1.10, 1.20, 1.35, 1.50, 1.50, 1.25, 0.80,
])  # fmt: skip
WEEKDAY = np.array([0.94, 0.92, 0.93, 0.97, 1.08, 1.20, 1.16])  # Monday first


def request_times(plan: Plan, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Sorted request times (epoch ms) for the whole world."""
    start, end = plan.start_ms, plan.end_ms
    edges = np.arange(start, end, BUCKET_MS, dtype=np.int64)
    hours = (edges - start) // HOUR
    n_hours = int(hours[-1]) + 1
    hour_of_day = np.empty(n_hours)
    weekday = np.empty(n_hours, dtype=np.int64)
    day_number = np.empty(n_hours, dtype=np.int64)
    for h in range(n_hours):
        local = datetime.fromtimestamp((start + h * HOUR) / 1000, plan.tz)
        hour_of_day[h] = local.hour + local.minute / 60.0
        weekday[h] = local.weekday()
        day_number[h] = local.toordinal()
    frac_hour = hour_of_day[hours] + ((edges - start) % HOUR) / HOUR + BUCKET_MS / (2 * HOUR)
    weekend = weekday[hours] >= 5
    shape = _profile(HOURLY, frac_hour)
    shape = np.where(weekend, 0.6 * shape + 0.4 * _profile(DAYTIME, frac_hour), shape)
    day_index = day_number[hours] - day_number[0]
    day_noise = rng.lognormal(0.0, 0.04, int(day_index.max()) + 1)
    intensity = shape * WEEKDAY[weekday[hours]] * day_noise[day_index]
    intensity *= rng.lognormal(0.0, 0.05, len(edges))
    per_bucket = plan.config.requests_per_day * BUCKET_MS / (24 * HOUR)
    intensity *= per_bucket / intensity.mean()

    mid = edges + BUCKET_MS // 2
    for incident in plan.of_kind("holiday"):
        on = incident.active(mid)
        daytime = _profile(DAYTIME, frac_hour) / _profile(HOURLY, frac_hour)
        intensity[on] *= float(incident.params["multiplier"]) * daytime[on] / daytime[on].mean()
    for incident in plan.of_kind("traffic_spike"):
        intensity[incident.active(mid)] *= float(incident.params["multiplier"])

    counts = rng.poisson(intensity)
    starts = np.repeat(edges, counts)
    stamps = starts + rng.integers(0, BUCKET_MS, len(starts))
    stamps = stamps[stamps < end]
    stamps.sort()
    return stamps


def _profile(table: npt.NDArray[np.float64], hour: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Cyclic linear interpolation of an hourly table at fractional hours (centre of hour)."""
    x = np.mod(hour - 0.5, 24.0)
    lo = np.floor(x).astype(np.int64)
    w = x - lo
    return table[lo] * (1 - w) + table[(lo + 1) % 24] * w
