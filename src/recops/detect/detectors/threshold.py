"""Static thresholds: the value itself passes a fixed level.

The simplest detector, for series whose bad level is known in absolute terms: an
SLO-valued latency, "more than 0 overdue partitions", a null rate above 1%. ``above``
alarms when the value is greater than ``level``, ``below`` when it is smaller. An
optional ``warn_level`` gives an earlier, softer line on the same side. Windows with
fewer than ``min_n`` observations are not judged (``insufficient``): a p99 of 40
requests is one request's latency.

Score: how far the value is past the line of its status, in the metric's unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from recops.detect.detectors.base import (
    DetectorState,
    SeriesPoint,
    Status,
    StatusClock,
    TimeOrder,
    check_keys,
    finite,
    to_jsonable,
)
from recops.errors import InvalidInput


@dataclass(frozen=True)
class ThresholdParams:
    """Parameters of :class:`StaticThreshold`.

    Attributes:
        level: the alarm line. Default 0.0, the natural line of count series that should
            stay at zero (overdue partitions, schema changes); set it for anything else.
        kind: ``above`` (bad when value > level, the default: most static thresholds are
            ceilings: latency, error rates, delays) or ``below`` (bad when value < level).
        warn_level: an optional earlier line on the same side (``None``: no warn).
        min_n: windows whose ``n`` is below this are ``insufficient`` (``None``: judge
            every window; points without ``n`` count as 0 when it is set).
    """

    level: float = 0.0
    kind: Literal["above", "below"] = "above"
    warn_level: float | None = None
    min_n: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("above", "below"):
            raise InvalidInput(f"threshold kind must be 'above' or 'below', not {self.kind!r}")
        if self.warn_level is not None:
            earlier = self.warn_level <= self.level if self.kind == "above" else self.warn_level >= self.level
            if not earlier:
                raise InvalidInput(f"warn_level {self.warn_level} is past the alarm level {self.level}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdParams:
        check_keys(cls, data)
        return cls(**data)


class StaticThreshold:
    """Alarm when the value passes a fixed level (see the module docstring)."""

    name: ClassVar[str] = "threshold"

    def __init__(self, params: ThresholdParams | None = None) -> None:
        self._params = params or ThresholdParams()
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(self._params)  # shared by every state: read-only

    @property
    def params(self) -> ThresholdParams:
        return self._params

    def _past(self, value: float, line: float) -> float:
        """How far ``value`` is past ``line`` on the bad side (negative: not past)."""
        return value - line if self._params.kind == "above" else line - value

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        p = self._params
        value = point.usable_value
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": value,
            "baseline": None,
            "bounds": {"alarm": p.level, "warn": p.warn_level, "side": p.kind},
            "statistic": {"name": "value", "value": finite(value)},
            "n": point.n,
            "parameters": self._parameters,
        }
        status: Status
        score = 0.0
        if value is None:
            status, evidence["reason"] = "insufficient", "no value"
        elif p.min_n is not None and (point.n or 0) < p.min_n:
            status, evidence["reason"] = "insufficient", f"n below min_n {p.min_n}"
        elif self._past(value, p.level) > 0:
            status, score = "alarm", self._past(value, p.level)
        elif p.warn_level is not None and self._past(value, p.warn_level) > 0:
            status, score = "warn", self._past(value, p.warn_level)
        else:
            status = "ok"
        since = self._clock.tick(status, point.at)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, point.at)
