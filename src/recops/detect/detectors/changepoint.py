"""Shared machinery of the change-point detectors (CUSUM, Page–Hinkley).

Both accumulate the standardized residual z of each window (from the seasonal baseline)
on each bad side, in the standard parameterization (k and h in residual sd):

    d = (z − μ) / s        g⁺ ← max(0, g⁺ + d − k)        g⁻ ← max(0, g⁻ − d − k)

and alarm while a bad side's sum is at least ``h``. ``k`` (the slack, or drift
allowance) is half the shift the test is tuned to catch fastest. CUSUM takes μ = 0 (the
baseline is right: residuals centre on zero); Page–Hinkley learns μ (see its module).

**Long-run scale s.** On white noise s = 1 and the average run lengths of the CUSUM
literature apply. Residuals of real traffic are not white: a whole day runs a few
percent high (weather, a sports final), so 24 hourly residuals in a row share a sign,
and a CUSUM fed them raises a false alarm every few days. So s is the residuals'
*long-run* standard deviation, √(γ₀ + 2 Σ_{l=1..L} (1 − l/(L+1)) γ_l) (Newey–West, with
the autocovariances γ_l of the recent residuals up to a lag L of one day of windows),
floored at 1: in the diffusion approximation the partial sums of d then behave like
those of white noise, so the documented ARL holds again, while on white noise nothing
changes. The price is honest: a shift no bigger than a normal day's wobble is not
called a change.

Guards for real traffic, each a parameter:

* ``min_instances`` residuals (100) teach μ and s before anything is judged;
* each deviation d is clipped to ±``clip`` (4) before it is added, so one wild window
  (a bot burst, a late partition) cannot trip a detector meant for sustained shifts
  (it adds at most clip − k = 3.5 < h; three wild windows in a row do); single windows
  are the seasonal detector's job. The residuals μ and s learn from are clipped alike;
* each sum is capped at ``cap`` × h (1.5 h), so once a shift ends the alarm clears in
  about (cap − 1)·h/k windows (8 with the defaults) instead of lingering as long as the
  shift lasted; when it clears both sums restart from zero (the standard restart after
  a signal), so the sum does not sit just under h and flap;
* μ and s learn only while not alarmed, so an incident does not teach them that the
  incident is normal.

The residual comes from a :class:`SeasonalBaseline` (default) or, with ``baseline=None``,
from ``(value − mean) / sd`` for a series that already is a residual or has a known
in-control level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Self

import numpy as np

from recops.detect.detectors.base import (
    DetectorState,
    SeriesPoint,
    Status,
    StatusClock,
    TimeOrder,
    bad_sides,
    converted,
    finite,
    parse_duration,
    to_jsonable,
)
from recops.detect.detectors.seasonal_baseline import SeasonalBaseline, SeasonalParams
from recops.errors import InvalidInput

MAX_LAGS = 288  # one day of 5-minute windows


@dataclass(frozen=True)
class ChangePointParams:
    """Parameters shared by CUSUM and Page–Hinkley (each module documents its defaults).

    Attributes:
        k: slack in residual sd (default 0.5: tuned to a 1 sd shift, the textbook value).
        h: alarm threshold in residual sd (default 8: two-sided ARL₀ ≈ 9,600 windows).
        min_instances: residuals that only teach μ and s before anything is judged
            (default 100: μ then has a standard error of about 0.1 sd).
        memory: windows μ and the autocovariances average over once warmed up (default
            1,000, a running mean that becomes exponentially weighted).
        correlation: the lag span of the long-run scale, as data time (default 1 day:
            the day-to-day wobble of traffic); lags = span / window length, at most 288.
        clip: each deviation d (and each residual learned from) is clipped to ±clip
            (default 4; ``None``: no clipping).
        cap: each sum is capped at cap × h (default 1.5).
        direction: the catalog direction; only bad sides accumulate.
        baseline: the seasonal baseline whose residual is used (default the standard
            one; ``None``: use ``(value − mean) / sd``).
        mean, sd: the in-control level and noise when ``baseline`` is ``None``.
        min_relative_change: also require the shift to be at least this share of the
            baseline (``None``: the sums alone): the mean of ``value / baseline − 1`` over
            the windows since the alarmed side's sum last left zero. On thick series a
            1% shift is many standard errors; effect size says whether it matters.
    """

    k: float = 0.5
    h: float = 8.0
    min_instances: int = 100
    memory: int = 1000
    correlation: timedelta = timedelta(days=1)
    clip: float | None = 4.0
    cap: float = 1.5
    direction: str = "both_bad"
    baseline: SeasonalParams | None = field(default_factory=SeasonalParams)
    mean: float = 0.0
    sd: float = 1.0
    min_relative_change: float | None = None

    def __post_init__(self) -> None:
        bad_sides(self.direction)
        if self.min_relative_change is not None and self.min_relative_change < 0:
            raise InvalidInput(f"min_relative_change must not be negative, got {self.min_relative_change}")
        if self.k < 0 or self.h <= 0:
            raise InvalidInput(f"change-point detector needs k >= 0 and h > 0, got k={self.k}, h={self.h}")
        if self.clip is not None and self.clip <= 0:
            raise InvalidInput(f"clip must be positive or None, got {self.clip}")
        if self.cap < 1:
            raise InvalidInput(f"cap must be at least 1 (a multiple of h), got {self.cap}")
        if self.sd <= 0:
            raise InvalidInput(f"sd must be positive, got {self.sd}")
        if self.min_instances < 1 or self.memory < self.min_instances:
            raise InvalidInput("need 1 <= min_instances <= memory")
        if self.correlation < timedelta(0):
            raise InvalidInput("correlation span must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**converted(cls, data, baseline=_baseline_params, correlation=parse_duration))


def _baseline_params(value: Any) -> Any:
    return SeasonalParams.from_dict(value) if isinstance(value, Mapping) else value


class ResidualSource:
    """Turns points into standardized residuals z (None while it cannot say)."""

    def __init__(self, baseline: SeasonalParams | None, mean: float, sd: float) -> None:
        self._baseline = SeasonalBaseline(baseline) if baseline is not None else None
        self._mean, self._sd = mean, sd

    def observe(self, point: SeriesPoint) -> tuple[float | None, dict[str, Any]]:
        """(z, evidence about the residual); z is None with a ``reason`` in the evidence."""
        if self._baseline is not None:
            residual, reason = self._baseline.observe(point)
            if residual is None:
                return None, {"reason": reason}
            return residual.z, {"baseline": residual.baseline, "residual": residual.to_json()}
        value = point.usable_value
        if value is None:
            return None, {"reason": "no value"}
        return (value - self._mean) / self._sd, {"baseline": self._mean, "sd": self._sd}


class ResidualNoise:
    """Running mean and autocovariances of the residual, for μ and the long-run scale."""

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.seen = 0
        self.mean = 0.0
        self.set_lags(0)

    def set_lags(self, lags: int) -> None:
        self.lags = max(0, min(MAX_LAGS, lags))
        self._history = np.zeros(self.lags + 1)  # z_t, z_{t-1}, ..., z_{t-lags}
        self._products = np.zeros(self.lags + 1)  # running means of z_t·z_{t-l}
        self._counts = np.zeros(self.lags + 1)  # pairs seen per lag

    def add(self, z: float) -> None:
        self.seen += 1
        self.mean += (z - self.mean) / min(self.seen, self.memory)
        self._history[1:] = self._history[:-1]
        self._history[0] = z
        m = min(self.seen, self.lags + 1)  # lags with a pair so far
        self._counts[:m] += 1
        weights = 1.0 / np.minimum(self._counts[:m], self.memory)
        self._products[:m] += (z * self._history[:m] - self._products[:m]) * weights

    def long_run_sd(self, center: float) -> float:
        """√(γ₀ + 2 Σ Bartlett-weighted γ_l) about ``center``, floored at 1 (white noise's)."""
        if self.seen < 2:
            return 1.0
        # E[(z_t − c)(z_{t−l} − c)] = E[z_t z_{t−l}] − 2cμ + c²  (for the stationary mean μ)
        offset = center * center - 2 * center * self.mean
        seen = self._counts > 0
        weights = 2.0 * (1.0 - np.arange(self.lags + 1) / (self.lags + 1))
        weights[0] = 1.0
        total = float(np.sum((weights * (self._products + offset))[seen]))
        return math.sqrt(max(1.0, total))


@dataclass
class TwoSidedSums:
    """The g⁺ / g⁻ accumulators with a cap and restart (module docstring)."""

    k: float
    h: float
    cap: float
    rise_bad: bool
    fall_bad: bool
    upper: float = 0.0
    lower: float = 0.0
    alarmed: bool = False

    def add(self, deviation: float) -> bool:
        """Accumulate one standardized deviation; whether a bad side is at or past h now."""
        limit = self.cap * self.h
        self.upper = min(limit, max(0.0, self.upper + deviation - self.k)) if self.rise_bad else 0.0
        self.lower = min(limit, max(0.0, self.lower - deviation - self.k)) if self.fall_bad else 0.0
        was, self.alarmed = self.alarmed, self.statistic >= self.h
        if was and not self.alarmed:  # the alarm just cleared: restart, as after a signal
            self.upper = self.lower = 0.0
        return self.alarmed

    @property
    def statistic(self) -> float:
        return max(self.upper, self.lower)

    @property
    def side(self) -> str | None:
        if self.statistic <= 0:
            return None
        return "up" if self.upper >= self.lower else "down"


@dataclass
class ShiftRuns:
    """The mean relative change (``value / baseline − 1``) of each side's current run."""

    up_sum: float = 0.0
    up_n: int = 0
    down_sum: float = 0.0
    down_n: int = 0

    def add(self, relative: float | None, sums: TwoSidedSums) -> None:
        if sums.upper > 0 and relative is not None:
            self.up_sum, self.up_n = self.up_sum + relative, self.up_n + 1
        elif sums.upper <= 0:
            self.up_sum, self.up_n = 0.0, 0
        if sums.lower > 0 and relative is not None:
            self.down_sum, self.down_n = self.down_sum + relative, self.down_n + 1
        elif sums.lower <= 0:
            self.down_sum, self.down_n = 0.0, 0

    def shift(self, side: str | None) -> float | None:
        """The mean relative change of the run on ``side`` (``up``/``down``)."""
        if side == "up" and self.up_n:
            return self.up_sum / self.up_n
        if side == "down" and self.down_n:
            return self.down_sum / self.down_n
        return None


class ChangePointDetector:
    """CUSUM (``learn_level = False``) or Page–Hinkley (``True``) on the residual."""

    name: ClassVar[str] = "changepoint"
    learn_level: ClassVar[bool] = False

    def __init__(self, params: ChangePointParams) -> None:
        self._params = p = params
        rise_bad, fall_bad = bad_sides(p.direction)
        self._sums = TwoSidedSums(p.k, p.h, p.cap, rise_bad, fall_bad)
        self._runs = ShiftRuns()
        self._source = ResidualSource(p.baseline, p.mean, p.sd)
        self._noise = ResidualNoise(p.memory)
        self._lags_set = False
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(self._params)  # shared by every state: read-only

    @property
    def params(self) -> ChangePointParams:
        return self._params

    def _set_lags(self, point: SeriesPoint) -> None:
        step = point.at - point.window_start
        lags = round(self._params.correlation / step) if step > timedelta(0) else 0
        self._noise.set_lags(lags)
        self._lags_set = True

    def _clip(self, x: float) -> float:
        clip = self._params.clip
        return x if clip is None else max(-clip, min(clip, x))

    def _judge(self, point: SeriesPoint, about: dict[str, Any], deviation: float) -> bool:
        """Accumulate the deviation and the run's relative shift; whether to alarm."""
        alarmed = self._sums.add(deviation)
        baseline, value = about.get("baseline"), point.usable_value
        relative = value / baseline - 1.0 if value is not None and baseline else None
        self._runs.add(relative, self._sums)
        wanted = self._params.min_relative_change
        if not alarmed or wanted is None:
            return alarmed
        shift = self._runs.shift(self._sums.side)
        about["relative_shift"] = shift
        return shift is not None and abs(shift) >= wanted

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        if not self._lags_set:
            self._set_lags(point)
        p = self._params
        z, about = self._source.observe(point)
        status: Status = "insufficient"
        score = 0.0
        level = self._noise.mean if self.learn_level else 0.0
        scale = self._noise.long_run_sd(level)
        if z is None:
            pass
        elif self._noise.seen < p.min_instances:
            self._noise.add(self._clip(z))
            about["reason"] = f"learning the residual noise: {self._noise.seen} of {p.min_instances}"
        elif self._judge(point, about, self._clip((z - level) / scale)):
            status, score = "alarm", self._sums.statistic - p.h
        else:
            status = "ok"
            self._noise.add(self._clip(z))
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": point.usable_value,
            "baseline": about.pop("baseline", None),
            "bounds": {"alarm": p.h},
            "statistic": {"name": self.name, "value": finite(self._sums.statistic)},
            "z": finite(z),
            "level": finite(level),
            "long_run_sd": finite(scale),
            "upper": finite(self._sums.upper),
            "lower": finite(self._sums.lower),
            "side": self._sums.side,
            **about,
            "parameters": self._parameters,
        }
        since = self._clock.tick(status, point.at)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, point.at)


def siegmund_arl(k: float, h: float, shift: float = 0.0) -> float:
    """Siegmund's approximation of a one-sided CUSUM's average run length.

    For N(shift, 1) observations, slack k and threshold h:
    ARL ≈ (exp(−2Δb) + 2Δb − 1) / (2Δ²), Δ = shift − k, b = h + 1.166
    (Siegmund 1985; the two-sided ARL on white noise is about half the one-sided).
    """
    delta, b = shift - k, h + 1.166
    if abs(delta) < 1e-12:
        return b * b
    return (math.exp(-2 * delta * b) + 2 * delta * b - 1) / (2 * delta * delta)
