"""The detector interface: points in, states out.

A detector is built from a frozen parameters dataclass (every field has a documented
default) and fed the points of one series in time order::

    detector = Cusum(CusumParams(h=8.0))
    for point in points:
        state = detector.update(point)

Each :class:`DetectorState` says where the series stands after that point: ``status``
(``ok``, ``warn``, ``alarm`` or ``insufficient`` while the detector cannot judge yet),
``score`` (how far the statistic is past the line of the current status, in the
statistic's own unit; 0 for ``ok`` and ``insufficient``), ``evidence`` (a JSON-able dict
with the value, the baseline, the lines, the statistic and the parameters used) and
``since`` (the data time at which the current status began). Detectors keep bounded
state: a detector holds at most the weeks of points its statistic needs, never the
whole history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from recops.errors import InvalidInput

Status = Literal["ok", "warn", "alarm", "insufficient"]
STATUSES: tuple[Status, ...] = ("ok", "warn", "alarm", "insufficient")

Direction = Literal["up_is_bad", "down_is_bad", "both_bad", "neutral"]
DIRECTIONS: tuple[str, ...] = ("up_is_bad", "down_is_bad", "both_bad", "neutral")

# The largest |z| or score reported: keeps evidence finite (strict JSON has no inf).
MAX_STATISTIC = 1e9


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One window of a metric series, as a detector sees it.

    Attributes:
        at: the end of the window (tz-aware): the data time a state refers to.
        value: the metric value, ``None`` when the window has no value.
        start: the start of the window (defaults to ``at`` for instantaneous values).
        numerator, denominator: a ratio's parts (bad events / events for SLIs).
        n: the number of observations behind the value.
    """

    at: datetime
    value: float | None
    start: datetime | None = None
    numerator: float | None = None
    denominator: float | None = None
    n: int | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or (self.start is not None and self.start.tzinfo is None):
            raise InvalidInput("series points need tz-aware datetimes (data time in UTC or a zone)")

    @property
    def window_start(self) -> datetime:
        return self.start if self.start is not None else self.at

    @property
    def usable_value(self) -> float | None:
        """The value, or ``None`` when it is missing or not a finite number."""
        if self.value is None or not math.isfinite(self.value):
            return None
        return float(self.value)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SeriesPoint:
        """A point from a stored metric-point row (``window_start``, ``window_end``, ...)."""
        return cls(
            at=row["window_end"],
            start=row.get("window_start"),
            value=row.get("value"),
            numerator=row.get("numerator"),
            denominator=row.get("denominator"),
            n=row.get("n"),
        )


@dataclass(frozen=True)
class DetectorState:
    """Where a series stands after one point (see the module docstring).

    Treat ``evidence`` as read-only: its ``parameters`` dict is shared by every state of
    one detector.
    """

    status: Status
    score: float
    evidence: dict[str, Any]
    since: datetime
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "score": self.score,
            "since": self.since.isoformat(),
            "at": self.at.isoformat(),
            "evidence": self.evidence,
        }


class Detector(Protocol):
    """Anything fed points in time order that answers with a state."""

    name: ClassVar[str]

    @property
    def params(self) -> Any: ...

    def update(self, point: SeriesPoint) -> DetectorState: ...


def run_detector(detector: Detector, points: Iterable[SeriesPoint]) -> list[DetectorState]:
    """Feed ``points`` in order; the state after each one."""
    return [detector.update(point) for point in points]


class StatusClock:
    """Remembers when the current status began (the ``since`` of a state)."""

    def __init__(self) -> None:
        self._status: Status | None = None
        self._since: datetime | None = None

    def tick(self, status: Status, at: datetime) -> datetime:
        if status != self._status or self._since is None:
            self._status = status
            self._since = at
        return self._since


class TimeOrder:
    """Refuses points that go back in time (a series must be fed in order)."""

    def __init__(self) -> None:
        self.last: datetime | None = None

    def check(self, point: SeriesPoint) -> None:
        if self.last is not None and point.at <= self.last:
            raise InvalidInput(
                f"points must be fed in increasing time: {point.at.isoformat()} after {self.last.isoformat()}"
            )
        self.last = point.at


def finite(x: float | None) -> float | None:
    """``x`` rounded for evidence, clamped to ±MAX_STATISTIC; ``None`` stays ``None`` (NaN too)."""
    if x is None or math.isnan(x):
        return None
    return max(-MAX_STATISTIC, min(MAX_STATISTIC, float(x)))


def bad_sides(direction: str) -> tuple[bool, bool]:
    """(rise is bad, fall is bad) for a catalog direction; ``neutral`` watches both sides."""
    if direction not in DIRECTIONS:
        raise InvalidInput(f"unknown direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
    return direction != "down_is_bad", direction != "up_is_bad"


def check_direction(direction: str) -> None:
    bad_sides(direction)


# -- parameters: to JSON and from mappings -------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def format_duration(delta: timedelta) -> str:
    """``5m``, ``1h``, ``3d``: the largest unit that divides the duration."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_duration(text: str | float | int | timedelta) -> timedelta:
    """A duration from ``"5m"``, ``"1h"``, ``"3d"``, ``"2w"`` or a number of seconds."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    if isinstance(text, str) and len(text) > 1 and text[-1] in _UNITS:
        try:
            return timedelta(seconds=float(text[:-1]) * _UNITS[text[-1]])
        except ValueError:
            pass
    raise InvalidInput(f"bad duration {text!r}: use e.g. '5m', '1h', '3d' or seconds")


def to_jsonable(value: Any) -> Any:
    """Parameters as JSON: zones by name, dates ISO, durations ``1h``, sets sorted."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, ZoneInfo):
        return value.key
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (frozenset, set)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, (tuple, list)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return finite(value)
    return value


P = TypeVar("P")


def check_keys(cls: type[Any], data: Mapping[str, Any]) -> None:
    """Refuse keys that are not parameters of ``cls`` (a typo must not pass silently)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(
            f"unknown parameter(s) {', '.join(unknown)} for {cls.__name__}: use {', '.join(sorted(known))}"
        )


def converted(cls: type[Any], data: Mapping[str, Any], **converters: Any) -> dict[str, Any]:
    """``data`` checked against ``cls``'s fields, with each named key converted (from a
    config file or JSON body: durations, zones, dates, nested parameters)."""
    check_keys(cls, data)
    return {k: converters[k](v) if k in converters else v for k, v in data.items()}


def as_zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {value!r}") from exc


def as_dates(values: Iterable[Any]) -> frozenset[date]:
    out: set[date] = set()
    for v in values:
        if isinstance(v, datetime):
            out.add(v.date())
        elif isinstance(v, date):
            out.add(v)
        else:
            try:
                out.add(date.fromisoformat(str(v)))
            except ValueError as exc:
                raise InvalidInput(f"bad holiday date {v!r}: use YYYY-MM-DD") from exc
    return frozenset(out)
