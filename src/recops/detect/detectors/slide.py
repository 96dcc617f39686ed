"""A slide that began recently: the broken-line test on the seasonal residual.

A metric that starts to slide (a model going stale, a catalog drifting away from what
the ranker learned) is flat, then falls along a line. The trend detector's Mann–Kendall
test over four weeks of days is right once the slide fills much of its window, but a
slide that began three days ago is three values of 28 there, and the test cannot see it
yet. This detector asks the narrower question, as the likelihood-ratio test for a change
of slope does (Hinkley 1971, the "broken line"), on hourly windows:

* each window is scored against its seasonal baseline (same hour of the week over the
  last 4 weeks, holidays with holidays: :class:`SeasonalBaseline`), as a relative
  residual ``u = value / baseline − 1`` (its sign turned so that the bad side is
  positive) with its relative scale ``σ`` (the baseline's robust scale, binomial floor
  included, over the baseline);
* for every onset τ at a local midnight of the last ``window`` (21 days) with at least
  ``min_span`` (2 days) of windows after it, the weighted least-squares line through
  the onset, u(t) = β (t − τ), has

      β̂ = Σ w u / σ² ÷ Σ w² / σ²,      z(τ) = β̂ · √(Σ w² / σ²) / s,      w = t − τ (days)

  with t a window's middle and s the residuals' long-run scale: hours of one day share
  its weather, so their z = u / σ are correlated, and s (Newey–West over a day of lags,
  at least 1, as the change-point detectors use) widens the test by what that costs;
* the statistic is the largest z(τ); ``alarm`` while it is at least ``z`` (3.5), the
  fitted line crosses the relative threshold (the catalog's "10% below its usual
  level") within ``horizon`` (28 days) or already has, and the last ``min_span`` of
  windows still lie on the line (their weighted mean at most 3 standard errors short of
  it: a step that recovered, such as a bad deploy rolled back, leaves an old deficit in
  the window that a line from before it still fits, while its last days are back at
  zero); ``warn`` when the crossing is further; ``ok`` otherwise; ``insufficient``
  while the baseline and the noise learn.

The forecast is the line's crossing of the threshold, with an interval from the slope's
``confidence`` bounds (β̂ ± z·(se of β̂)): "crosses -0.1 in about 7 days, 5–11".

False alarms. On white noise the largest z over the onsets of the last 21 days, judged
every day, reaches 3.0 about 0.9 times a year, 3.5 about 0.2 times and 4.0 about 0.03
times (Monte Carlo over 200,000 days; a test re-checks the 3.5 line): one false ticket
in five years per series, before the crossing guard drops slides too slow to matter.
Real residuals are not white (a sunny week, a marketing push), which the long-run scale
absorbs only in part; that is why this opens a ticket, not a page, and why the plan runs
it on all traffic only.

After a slide has run for a week, last week's same hour is already lower, so the
baseline starts to follow and the residual stops growing: this detector is for the
first days of a slide; the trend detector, for the weeks after. The noise learns only
while nothing is alarmed, so a slide does not teach it that sliding is normal.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from recops.detect.detectors.base import (
    DetectorState,
    SeriesPoint,
    Status,
    StatusClock,
    TimeOrder,
    check_keys,
    finite,
    parse_duration,
    to_jsonable,
)
from recops.detect.detectors.changepoint import MAX_LAGS, ResidualNoise
from recops.detect.detectors.kendall import Crossing, SenSlope, forecast_crossing
from recops.detect.detectors.seasonal_baseline import SeasonalBaseline, SeasonalParams
from recops.detect.detectors.trend_window import days_since_epoch
from recops.errors import InvalidInput

_NORMAL = NormalDist()
#: The last ``min_span`` of windows may fall short of the fitted line by at most this
#: many standard errors (a recovered step falls short by many; a slide by chance, rarely).
MAX_GAP = 3.0
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SlideParams:
    """Parameters of :class:`SlideDetector` (the module docstring explains the test).

    Attributes:
        direction: ``down_is_bad`` or ``up_is_bad``: the side a slide is bad on.
        relative_threshold: the relative move from the usual level that matters (the
            catalog's relative threshold: 0.1 for "10% below").
        baseline: the seasonal baseline the residuals come from (zone and holidays).
        window: how far back an onset may be (default 21 days: a slide older than
            three weeks is the trend detector's).
        min_span: data time after an onset before it is judged (default 2 days: a
            shorter run is a step, which the seasonal and CUSUM detectors judge).
        learn: data time of residuals the noise learns from before anything is judged
            (default 14 days).
        z: the alarm line of the largest z (default 3.5, see the module docstring).
        horizon: alarm when the fitted crossing is at most this far ahead (default 28
            days, as the trend detector).
        confidence: of the slope bounds behind the forecast interval (default 0.9).
    """

    direction: str = "down_is_bad"
    relative_threshold: float = 0.1
    baseline: SeasonalParams = field(default_factory=SeasonalParams)
    window: timedelta = timedelta(days=21)
    min_span: timedelta = timedelta(days=2)
    learn: timedelta = timedelta(days=14)
    z: float = 3.5
    horizon: timedelta = timedelta(days=28)
    confidence: float = 0.9

    def __post_init__(self) -> None:
        if self.direction not in ("up_is_bad", "down_is_bad"):
            raise InvalidInput(f"a slide needs direction up_is_bad or down_is_bad, not {self.direction!r}")
        top = math.inf if self.direction == "up_is_bad" else 1.0
        if not 0 < self.relative_threshold < top:
            raise InvalidInput(
                f"relative_threshold out of range for {self.direction}: {self.relative_threshold}"
            )
        if min(self.window, self.min_span, self.horizon) <= timedelta(0) or self.min_span >= self.window:
            raise InvalidInput(
                "a slide needs a positive window, min_span (shorter than the window) and horizon"
            )
        if self.z <= 0 or not 0 < self.confidence < 1 or self.learn < timedelta(0):
            raise InvalidInput("a slide needs z > 0, 0 < confidence < 1 and a learn span of at least 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlideParams:
        check_keys(cls, data)
        values = dict(data)
        for key in ("window", "min_span", "learn", "horizon"):
            if key in values:
                values[key] = parse_duration(values[key])
        if isinstance(values.get("baseline"), Mapping):
            values["baseline"] = SeasonalParams.from_dict(values["baseline"])
        return cls(**values)


@dataclass(frozen=True)
class SlideFit:
    """The best onset: its time (days since the epoch), slope per day (bad side positive),
    the slope's standard error, z and the windows after it."""

    onset: float
    slope: float
    slope_se: float
    z: float
    windows: int

    def moved(self, now: float) -> float:
        """The fitted relative move on the bad side at ``now``."""
        return self.slope * (now - self.onset)


def best_onset(
    middle: F64,
    u: F64,
    sigma: F64,
    onset: F64,
    first: npt.NDArray[np.intp],
    now: float,
    scale: float = 1.0,
) -> SlideFit | None:
    """The candidate onset with the largest z (module docstring), or ``None`` for none.

    ``middle``, ``u`` and ``sigma`` describe the windows (oldest first, times in days);
    candidate ``onset`` times come with the index of the ``first`` window after each.
    The sums after each onset are suffix sums, so the scan is one pass over the windows.
    """
    if len(first) == 0:
        return None
    t = middle - now  # small numbers: the sums below cancel nothing large
    tau = onset - now
    a, b = u / sigma**2, 1.0 / sigma**2

    def after(x: F64) -> F64:
        return np.cumsum(x[::-1])[::-1][first]

    s0, s1 = after(a), after(t * a)
    q0, q1, q2 = after(b), after(t * b), after(t * t * b)
    weight = q2 - 2 * tau * q1 + tau * tau * q0  # Σ w² / σ²
    valid = weight > 0
    if not valid.any():
        return None
    information = np.sqrt(np.where(valid, weight, 1.0))
    slope = (s1 - tau * s0) / np.where(valid, weight, 1.0)
    z = np.where(valid, slope * information / scale, -np.inf)
    best = int(np.argmax(z))
    return SlideFit(
        onset=float(onset[best]),
        slope=float(slope[best]),
        slope_se=float(scale / information[best]),
        z=float(z[best]),
        windows=len(middle) - int(first[best]),
    )


def recent_gap(fit: SlideFit, middle: F64, u: F64, sigma: F64, scale: float) -> float:
    """How far the given (recent) windows sit off the fitted line, in standard errors of
    their weighted mean: negative when they are less bad than the line says. A step that
    has recovered (a bad deploy rolled back) leaves an old deficit in the window, which a
    line from before it still fits; its last days are back at zero, far above the line."""
    if len(u) == 0:
        return 0.0
    weight = 1.0 / sigma**2
    total = float(np.sum(weight))
    observed = float(np.sum(weight * u)) / total
    predicted = fit.slope * float(np.sum(weight * (middle - fit.onset))) / total
    return (observed - predicted) / (scale / math.sqrt(total))


class SlideDetector:
    """A recent slide toward the threshold (see the module docstring)."""

    name: ClassVar[str] = "slide"

    def __init__(self, params: SlideParams | None = None) -> None:
        self._params = p = params or SlideParams()
        self._baseline = SeasonalBaseline(p.baseline)
        self._sign = -1.0 if p.direction == "down_is_bad" else 1.0
        # (start, middle, u, sigma, starts a local day) of the judged windows, oldest first
        self._scored: deque[tuple[float, float, float, float, bool]] = deque()
        self._noise = ResidualNoise(memory=1000)
        self._learned = 0.0  # days of residuals the noise has seen
        self._last_day: object = None  # the local day of the last scored window
        self._lags_set = False
        self._alarmed = False
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(p)

    @property
    def params(self) -> SlideParams:
        return self._params

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        p = self._params
        step = point.at - point.window_start
        if not self._lags_set and step > timedelta(0):
            self._noise.set_lags(min(MAX_LAGS, round(timedelta(days=1) / step)))
            self._lags_set = True
        residual, reason = self._baseline.observe(point)
        now = days_since_epoch(point.at)
        start = days_since_epoch(point.window_start)
        if residual is not None and residual.baseline != 0 and residual.scale > 0:
            # the first scored window of a local day is an onset candidate (a day whose
            # midnight window went unscored still gets one)
            day = point.window_start.astimezone(p.baseline.zone).date()
            new_day, self._last_day = day != self._last_day, day
            base = abs(residual.baseline)
            u, sigma = self._sign * residual.residual / base, residual.scale / base
            self._scored.append((start, (start + now) / 2, u, sigma, new_day))
            if not self._alarmed:
                self._noise.add(max(-4.0, min(4.0, u / sigma)))
                self._learned += now - start
        oldest = now - p.window / timedelta(days=1)
        while self._scored and self._scored[0][0] < oldest:
            self._scored.popleft()
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": point.usable_value,
            "baseline": residual.baseline if residual is not None else None,
            "bounds": {"z": p.z, "relative_threshold": p.relative_threshold},
            "statistic": {"name": "slide_z", "value": None},
            "parameters": self._parameters,
        }
        status: Status = "insufficient"
        score = 0.0
        learn_days = p.learn / timedelta(days=1)
        fitted = self._fit(now) if residual is not None and self._learned >= learn_days else None
        if residual is None:
            evidence["reason"] = reason
        elif fitted is None:
            evidence["reason"] = (
                f"learning the noise: {self._learned:.1f} of {learn_days:g} days"
                if self._learned < learn_days
                else "no onset with enough windows after it"
            )
        else:
            fit, gap = fitted
            crossing = self._crossing(fit, now)
            status = "ok"
            if fit.z >= p.z and fit.slope > 0 and gap >= -MAX_GAP:
                within = crossing is not None and crossing.days <= p.horizon / timedelta(days=1)
                status = "alarm" if within else "warn"
                score = fit.z - p.z
            evidence.update(
                statistic={"name": "slide_z", "value": finite(fit.z)},
                slide={
                    "onset_days_ago": round(now - fit.onset, 3),
                    "windows": fit.windows,
                    "slope_per_day": finite(self._sign * fit.slope),
                    "moved": finite(self._sign * fit.moved(now)),
                    "long_run_sd": finite(self._noise.long_run_sd(0.0)),
                    "recent_gap_z": finite(gap),
                },
                forecast=crossing.to_json() if crossing is not None else None,
            )
        self._alarmed = status == "alarm"
        since = self._clock.tick(status, point.at)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, point.at)

    def _fit(self, now: float) -> tuple[SlideFit, float] | None:
        """The best onset and how far the last ``min_span`` of windows falls short of its line."""
        rows = np.array([r[:4] for r in self._scored], dtype=np.float64).reshape(-1, 4)
        starts = np.array([r[4] for r in self._scored], dtype=bool)
        min_span = self._params.min_span / timedelta(days=1)
        onsets = np.flatnonzero(starts & (rows[:, 0] <= now - min_span))
        middle, u, sigma = rows[:, 1], rows[:, 2], rows[:, 3]
        scale = self._noise.long_run_sd(0.0)
        fit = best_onset(middle, u, sigma, rows[onsets, 0], onsets, now, scale)
        if fit is None:
            return None
        recent = rows[:, 0] >= now - min_span
        return fit, recent_gap(fit, middle[recent], u[recent], sigma[recent], scale)

    def _crossing(self, fit: SlideFit, now: float) -> Crossing | None:
        """When the fitted broken line reaches the threshold, with the slope's interval."""
        p = self._params
        spread = _NORMAL.inv_cdf(0.5 + p.confidence / 2) * fit.slope_se
        line = SenSlope(fit.slope, 0.0, fit.slope - spread, fit.slope + spread, p.confidence)
        crossing = forecast_crossing(line, fit.onset, 0.0, now, p.relative_threshold, rising=True)
        return None if crossing is None else replace(crossing, level=self._sign * crossing.level)
