"""Seasonal baselines: what this window usually looks like, and how far off it is.

For a window starting at local time *t* (in the configured zone), the baseline is the
median of the values of the windows that started at the same local time of day on the
same weekday in the last ``weeks`` weeks (default 4). Holidays (a set of local dates)
are compared with what a holiday looks like:

* on a holiday, the baseline is the median of the same time of day on previous holidays
  (the last ``weeks`` of them) if there are any, else the same time of day on the last
  ``weeks`` Sundays (holiday traffic is weekend-shaped: daytime viewing, no commute);
* on a normal day, previous holidays are left out of the baseline, which then reaches
  back one week further.

The residual ``r = value - baseline`` is divided by a robust scale, the largest of:

1. **pooled**: 1.4826 × the median |r| of the last ``pool`` of residuals (14 days) of
   this series: the typical size of a residual, from hundreds of windows rather than the
   4 behind one baseline, robust to incidents that last less than half the pool. With
   ``spread="relative"`` (default) the residuals are pooled relative to their baseline
   and scaled back by this window's baseline, because on real traffic noise grows with
   the level (a volume at the daily peak moves more than at night). A baseline made of
   fewer than ``weeks`` values (a holiday after one earlier holiday, the first weeks) is
   noisier, so the pooled scale grows by √((1 + v(k)) / (1 + v(weeks))), v(k) being the
   variance of a median of k values relative to one (1, 1/2, then π/(2k)).
   A ratio's noise is set by its denominator, not its level: a night hour of 200
   impressions wobbles far more than an evening hour of 2,000 at the same CTR, and one
   pooled relative scale would be too wide by day and too narrow by night. So for ratio
   points (where the binomial floor below applies) the residuals are pooled in units of
   their own binomial error, and the pooled scale is that typical multiple (the
   overdispersion: clicks cluster by request and user) times this window's binomial
   error (decision 0051);
2. **slot**: 1.4826 × MAD of this window's own history values × √(1 + v(k)) (the
   spread of a value minus the median of k others), when k ≥ 3;
3. **binomial floor**: for a ratio with numerator/denominator, the standard error of the
   difference between this window's rate and the baseline rate,
   √(p(1−p)(1/n + c/Σnᵢ)) with p the pooled rate of the window and its history (as in
   a two-proportion z-test), n and nᵢ the denominators and c = π/2 for a median of
   k ≥ 3 (1 for k ≤ 2), so a thin slice needs a much larger move than a thick one;
4. **Poisson floor** (``poisson_floor``, for counts: requests, rows): the standard error
   of a count minus the median of k past counts of about the same mean λ,
   √(λ (1 + c/k)) with λ the baseline and c as above, so 6 requests against a usual 18
   in a night hour is noise (z ≈ −2.4), while 600 against 1,800 is not;
5. **relative floor**: ``min_relative_scale`` × |baseline| (0.5%): a 2.5% move on a huge
   series is statistically certain and operationally nothing.

The robust z = r / scale is what the seasonal detector judges and what the change-point
detectors accumulate. State is bounded: ``weeks`` values per (weekday, time of day)
slot, ``weeks`` per time of day for holidays, and the residual pool.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from recops.detect.detectors.base import (
    MAX_STATISTIC,
    SeriesPoint,
    as_dates,
    as_zone,
    converted,
    parse_duration,
)
from recops.detect.detectors.windows import RollingMedian
from recops.errors import InvalidInput

MAD_TO_SD = 1.4826  # 1/Φ⁻¹(3/4): MAD of a normal sample × this estimates its sd
SUNDAY = 6


@dataclass(frozen=True)
class SeasonalParams:
    """Parameters of a :class:`SeasonalBaseline` (module docstring for the method).

    Attributes:
        zone: the time zone the weekly cycle follows (the workspace's ``timezone``):
            traffic follows local days.
        weeks: how many past weeks (and past holidays) form a baseline. Default 4: a
            month of history follows slow seasonal change (school terms, growth) while a
            median of 4 ignores one bad week.
        min_weeks: fewest past values for a baseline on a normal day (default 2: the
            median of 2 is their mean, still better than no baseline; a holiday with
            no previous holidays and fewer Sundays than this is not judged).
        holidays: local dates that are holidays (from the workspace calendar).
        spread: ``relative`` (default; noise proportional to the level, right for
            volumes, latencies and rates) or ``absolute`` (noise independent of the level,
            for series around zero).
        pool: how much recent data time the residual scale is pooled over (default 14
            days: long enough that a day-long incident is a minority, short enough to
            follow a change in the noise).
        min_pool: fewest pooled residuals before the series is judged (default 24, a
            day of hourly windows).
        min_relative_scale: the scale is at least this share of |baseline| (default
            0.005, so a move must reach 2.5% of the baseline to warn at z 5).
        binomial_floor: use the binomial floor for ratio points (default on).
        poisson_floor: the values are counts of independent events: use the Poisson
            floor (default off; the detection plan turns it on for count metrics).
    """

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    weeks: int = 4
    min_weeks: int = 2
    holidays: frozenset[date] = frozenset()
    spread: Literal["relative", "absolute"] = "relative"
    pool: timedelta = timedelta(days=14)
    min_pool: int = 24
    min_relative_scale: float = 0.005
    binomial_floor: bool = True
    poisson_floor: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.min_weeks <= self.weeks:
            raise InvalidInput(f"need 1 <= min_weeks <= weeks, got {self.min_weeks} and {self.weeks}")
        if self.spread not in ("relative", "absolute"):
            raise InvalidInput(f"spread must be 'relative' or 'absolute', not {self.spread!r}")
        if self.min_pool < 1 or self.min_relative_scale < 0:
            raise InvalidInput("min_pool must be at least 1 and min_relative_scale not negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeasonalParams:
        return cls(**converted(cls, data, zone=as_zone, holidays=as_dates, pool=parse_duration))


@dataclass(frozen=True)
class Residual:
    """How far one window is from its seasonal baseline.

    Attributes:
        reference: what the baseline was made of: ``weekday`` (same weekday), ``holidays``
            (previous holidays) or ``sundays`` (a first holiday, compared with Sundays).
        scales: each candidate scale (``pooled``, ``slot``, ``binomial``, ``poisson``, ``relative_floor``).
    """

    value: float
    baseline: float
    residual: float
    scale: float
    z: float
    holiday: bool
    reference: str
    history: int
    scales: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "baseline": self.baseline,
            "residual": self.residual,
            "scale": self.scale,
            "z": self.z,
            "holiday": self.holiday,
            "reference": self.reference,
            "history": self.history,
            "scales": self.scales,
        }


@dataclass(frozen=True)
class _Entry:
    day: date
    value: float
    denominator: float | None


def _median_variance(k: int) -> float:
    """Variance of the median of k values, relative to one value's (normal data).

    1 for one value, 1/2 for two (their mean), π/(2k) for three or more (the large-sample
    value, within 15% from k = 3 on).
    """
    if k <= 2:
        return 1.0 / max(k, 1)
    return math.pi / (2 * k)


class SeasonalBaseline:
    """Learns the weekly cycle of one series and scores each new window against it."""

    def __init__(self, params: SeasonalParams | None = None) -> None:
        self.params = params or SeasonalParams()
        self._slots: dict[tuple[int, int, int], deque[_Entry]] = {}
        self._holidays: dict[tuple[int, int], deque[_Entry]] = {}
        self._pool = RollingMedian(self.params.pool)
        # ratio residuals in units of their binomial error: the series' overdispersion
        self._dispersion = RollingMedian(self.params.pool)

    def observe(self, point: SeriesPoint) -> tuple[Residual | None, str | None]:
        """Score ``point`` against its baseline, then learn from it.

        Returns the residual, or ``None`` and the reason it cannot be judged yet.
        """
        p = self.params
        value = point.usable_value
        if value is None:
            return None, "no value"
        local = point.window_start.astimezone(p.zone)
        day, tod = local.date(), (local.hour, local.minute)
        holiday = day in p.holidays
        slot = (local.weekday(), *tod)
        history, reference, need = self._history(day, slot, tod, holiday)
        self._pool.expire(point.at)
        self._dispersion.expire(point.at)
        residual: Residual | None = None
        reason: str | None = None
        if len(history) < need:
            reason = f"baseline needs {need} past values of this {reference} slot, has {len(history)}"
        else:
            base = statistics.median(e.value for e in history)
            r = value - base
            binomial = self._binomial_scale(point, base, history)
            pooled = self._pooled_scale(base, len(history), binomial)
            if len(self._pool) < p.min_pool:
                reason = f"learning the noise: {len(self._pool)} of {p.min_pool} residuals"
            else:
                scales = {
                    "pooled": pooled,
                    "slot": self._slot_scale(history),
                    "binomial": binomial,
                    "poisson": self._poisson_scale(base, len(history)),
                    "relative_floor": p.min_relative_scale * abs(base),
                }
                scale = max(s for s in scales.values() if s is not None)
                z = r / scale if scale > 0 else (0.0 if r == 0 else math.copysign(MAX_STATISTIC, r))
                z = max(-MAX_STATISTIC, min(MAX_STATISTIC, z))
                residual = Residual(value, base, r, scale, z, holiday, reference, len(history), scales)
            self._learn_residual(point, r, base, binomial)
        self._remember(day, slot, tod, holiday, _Entry(day, value, point.denominator))
        return residual, reason

    # -- history -------------------------------------------------------------------

    def _history(
        self, day: date, slot: tuple[int, int, int], tod: tuple[int, int], holiday: bool
    ) -> tuple[list[_Entry], str, int]:
        p = self.params
        if holiday:
            past = [e for e in self._holidays.get(tod, ()) if e.day < day]
            if past:
                return past, "holidays", 1
            slot = (SUNDAY, *tod)
        oldest = day - timedelta(weeks=p.weeks + 1)
        past = [e for e in self._slots.get(slot, ()) if oldest <= e.day < day]
        return past, ("sundays" if holiday else "weekday"), p.min_weeks

    def _remember(
        self, day: date, slot: tuple[int, int, int], tod: tuple[int, int], holiday: bool, entry: _Entry
    ) -> None:
        store = self._holidays.setdefault(tod, deque(maxlen=self.params.weeks)) if holiday else None
        if store is None:
            store = self._slots.setdefault(slot, deque(maxlen=self.params.weeks))
        if store and store[-1].day == day:  # a repeated local time (DST end): keep the later window
            store.pop()
        store.append(entry)

    # -- scale ---------------------------------------------------------------------

    def _learn_residual(self, point: SeriesPoint, r: float, base: float, binomial: float | None) -> None:
        if self.params.spread == "relative":
            if base != 0:
                self._pool.add(point.at, abs(r) / abs(base))
        else:
            self._pool.add(point.at, abs(r))
        if binomial:
            self._dispersion.add(point.at, abs(r) / binomial)

    def _pooled_scale(self, base: float, k: int, binomial: float | None) -> float | None:
        if binomial and len(self._dispersion) >= self.params.min_pool:
            dispersion = self._dispersion.median()
            assert dispersion is not None
            return MAD_TO_SD * dispersion * binomial  # k is in the binomial error already
        typical = self._pool.median()
        if typical is None:
            return None
        fewer = math.sqrt((1 + _median_variance(k)) / (1 + _median_variance(self.params.weeks)))
        return MAD_TO_SD * typical * fewer * (abs(base) if self.params.spread == "relative" else 1.0)

    @staticmethod
    def _slot_scale(history: list[_Entry]) -> float | None:
        k = len(history)
        if k < 3:
            return None
        values = [e.value for e in history]
        center = statistics.median(values)
        mad = statistics.median(abs(v - center) for v in values)
        return MAD_TO_SD * mad * math.sqrt(1 + _median_variance(k))

    def _poisson_scale(self, base: float, k: int) -> float | None:
        if not self.params.poisson_floor or base < 0:
            return None
        c = math.pi / 2 if k >= 3 else 1.0
        return math.sqrt(max(base, 1.0) * (1 + c / k))

    def _binomial_scale(self, point: SeriesPoint, base: float, history: list[_Entry]) -> float | None:
        if not self.params.binomial_floor or not 0.0 <= base <= 1.0:
            return None
        n, value = point.denominator, point.usable_value
        past = [(e.value, e.denominator) for e in history]
        if value is None or n is None or n <= 0 or any(d is None or d <= 0 for _, d in past):
            return None
        past_total = float(sum(d for _, d in past if d is not None))
        # the pooled rate of this window and its history, as in a two-proportion z-test
        events = value * n + sum(v * d for v, d in past if d is not None)
        total = n + past_total
        rate = min(max(events / total, 0.5 / total), 1 - 0.5 / total)  # no events still has noise
        c = math.pi / 2 if len(past) >= 3 else 1.0
        return math.sqrt(rate * (1 - rate) * (1 / n + c / past_total))
