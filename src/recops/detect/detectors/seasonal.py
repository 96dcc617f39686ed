"""The seasonal detector: a window far from what the same hour of the week usually is.

Scores each window with a :class:`~recops.detect.detectors.seasonal_baseline.SeasonalBaseline`
(same local time of day and weekday over the last 4 weeks, median/MAD, holidays compared
with holidays) and judges the robust z on the bad side(s) of the metric's direction:
``warn`` from |z| ≥ ``warn_z`` (5), ``alarm`` from ``alarm_z`` (6). It catches spikes and sharp
drops in one window; sustained smaller shifts are the change-point detectors' job (they
accumulate the same z). Score: z past the line of the status, in residual sd.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recops.detect.detectors.base import (
    DetectorState,
    SeriesPoint,
    Status,
    StatusClock,
    TimeOrder,
    bad_sides,
    check_keys,
    finite,
    to_jsonable,
)
from recops.detect.detectors.seasonal_baseline import SeasonalBaseline, SeasonalParams
from recops.errors import InvalidInput


@dataclass(frozen=True)
class SeasonalDetectorParams:
    """Parameters of :class:`SeasonalDetector`.

    Attributes:
        baseline: how the baseline and the residual scale are made
            (:class:`SeasonalParams`: zone, weeks, holidays, ...).
        warn_z: the warn line in residual sd (default 5). Real residuals have heavier
            tails than a normal's (medians of four weeks, day-level wobble, Poisson noise):
            on simulated hourly traffic with 3% day-to-day noise |z| reached 4.8 in 13,000
            windows, so the Gaussian-looking 4 would open a ticket every few weeks per
            series; 5 keeps warns to real oddities.
        alarm_z: the alarm line (default 6: a single window this far off its usual
            hour of the week is an event worth a page, and beyond what the heavier tails
            produce by chance).
        direction: the catalog direction; only the bad side(s) are judged (``neutral``
            and ``both_bad`` judge both).
        min_relative_change: also require the value to be at least this share away
            from the baseline (``None``: z alone). A catalog relative threshold ("a 10%
            drop") sets it: on thick series a tiny move is many standard errors away,
            and effect size, not significance, is what is worth an alert.
        min_n: windows with fewer observations (the point's ``n``) are not judged
            (``None``: all). A p99 over 100 requests is its second-largest value.
    """

    baseline: SeasonalParams = field(default_factory=SeasonalParams)
    warn_z: float = 5.0
    alarm_z: float = 6.0
    direction: str = "both_bad"
    min_relative_change: float | None = None
    min_n: int | None = None

    def __post_init__(self) -> None:
        bad_sides(self.direction)
        if self.min_relative_change is not None and self.min_relative_change < 0:
            raise InvalidInput(f"min_relative_change must not be negative, got {self.min_relative_change}")
        if not 0 < self.warn_z <= self.alarm_z:
            raise InvalidInput(f"need 0 < warn_z <= alarm_z, got {self.warn_z} and {self.alarm_z}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeasonalDetectorParams:
        check_keys(cls, data)
        values = dict(data)
        if isinstance(values.get("baseline"), Mapping):
            values["baseline"] = SeasonalParams.from_dict(values["baseline"])
        return cls(**values)


class SeasonalDetector:
    """Judge each window against its seasonal baseline (see the module docstring)."""

    name: ClassVar[str] = "seasonal"

    def __init__(self, params: SeasonalDetectorParams | None = None) -> None:
        self._params = params or SeasonalDetectorParams()
        self._baseline = SeasonalBaseline(self._params.baseline)
        self._rise_bad, self._fall_bad = bad_sides(self._params.direction)
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(self._params)  # shared by every state: read-only

    @property
    def params(self) -> SeasonalDetectorParams:
        return self._params

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        p = self._params
        residual, reason = self._baseline.observe(point)
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": point.usable_value,
            "baseline": None,
            "bounds": None,
            "statistic": {"name": "z", "value": None},
            "parameters": self._parameters,
        }
        status: Status = "insufficient"
        score = 0.0
        if residual is not None and p.min_n is not None and (point.n or 0) < p.min_n:
            residual, reason = None, f"n below min_n {p.min_n}"
        if residual is None:
            evidence["reason"] = reason
        else:
            b, s = residual.baseline, residual.scale
            evidence.update(
                baseline=b,
                bounds={
                    "warn": [b - p.warn_z * s, b + p.warn_z * s],
                    "alarm": [b - p.alarm_z * s, b + p.alarm_z * s],
                },
                statistic={"name": "z", "value": finite(residual.z)},
                residual=residual.to_json(),
            )
            bad_z = max(
                residual.z if self._rise_bad else float("-inf"),
                -residual.z if self._fall_bad else float("-inf"),
            )
            if p.min_relative_change is not None and not self._moved_enough(point.usable_value, b):
                bad_z = min(bad_z, 0.0)
            if bad_z >= p.alarm_z:
                status, score = "alarm", bad_z - p.alarm_z
            elif bad_z >= p.warn_z:
                status, score = "warn", bad_z - p.warn_z
            else:
                status = "ok"
        since = self._clock.tick(status, point.at)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, point.at)

    def _moved_enough(self, value: float | None, baseline: float) -> bool:
        """Whether the value is ``min_relative_change`` away from the baseline on a bad side."""
        if value is None or baseline == 0:
            return value is not None and value != baseline
        change = value / baseline - 1.0
        wanted = self._params.min_relative_change or 0.0
        return (self._rise_bad and change >= wanted) or (self._fall_bad and -change >= wanted)
