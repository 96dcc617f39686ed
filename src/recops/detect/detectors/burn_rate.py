"""SLO error-budget burn rates, multi-window and multi-burn-rate (Google SRE workbook).

An SLO of ``objective`` (say 99.9% good events) leaves an error budget of
``1 - objective`` over its period (30 days). The *burn rate* over a window is the
window's error ratio divided by the budget: burning at 1 spends exactly the budget in
the period, at 14.4 spends 2% of a 30-day budget in one hour.

Input points are short windows (5 minutes) with ``numerator`` = bad events and
``denominator`` = events (or a ratio ``value`` with ``n`` events). The detector keeps
the last 3 days of them and sums them into each rule's long and short window. A rule
fires when *both* windows burn at least its rate: the long window makes it significant
(enough budget spent), the short one makes it current (the alert resets minutes after
the burning stops instead of hours). The default rules are the workbook's
(chapter "Alerting on SLOs", recommended parameters for a 30-day SLO):

| severity | long window | short window | burn rate | budget spent in long window |
|---|---|---|---|---|
| alarm (page) | 1h | 5m | 14.4 | 2% |
| alarm (page) | 6h | 30m | 6 | 5% |
| warn (ticket) | 24h | 2h | 3 | 10% |
| warn (ticket) | 3d | 6h | 1 | 10% |

A rule is evaluated only once the points reach back over its whole long window (no
page from the first five minutes of data) and only when its long window holds at least
``min_bad`` bad events. Score: for a firing rule, ``min(long burn, short burn)`` minus
the rule's rate (the largest over the firing rules of the status' severity).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Literal

from recops.detect.detectors.base import (
    DetectorState,
    SeriesPoint,
    Status,
    StatusClock,
    TimeOrder,
    check_keys,
    finite,
    format_duration,
    parse_duration,
    to_jsonable,
)
from recops.detect.detectors.windows import WindowSums
from recops.errors import InvalidInput


@dataclass(frozen=True)
class BurnRule:
    """Fire at ``severity`` when both windows burn the budget at least ``burn`` times too fast."""

    long: timedelta
    short: timedelta
    burn: float
    severity: Literal["alarm", "warn"]

    def __post_init__(self) -> None:
        if self.short >= self.long:
            raise InvalidInput(f"burn rule: short window {self.short} must be shorter than {self.long}")
        if self.severity not in ("alarm", "warn") or self.burn <= 0:
            raise InvalidInput("burn rule: severity must be 'alarm' or 'warn' and burn positive")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BurnRule:
        check_keys(cls, data)
        return cls(
            long=parse_duration(data["long"]),
            short=parse_duration(data["short"]),
            burn=float(data["burn"]),
            severity=data["severity"],
        )


HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

WORKBOOK_RULES: tuple[BurnRule, ...] = (
    BurnRule(HOUR, 5 * MINUTE, 14.4, "alarm"),
    BurnRule(6 * HOUR, 30 * MINUTE, 6.0, "alarm"),
    BurnRule(24 * HOUR, 2 * HOUR, 3.0, "warn"),
    BurnRule(72 * HOUR, 6 * HOUR, 1.0, "warn"),
)


@dataclass(frozen=True)
class BurnRateParams:
    """Parameters of :class:`BurnRate`.

    Attributes:
        objective: the SLO target, the share of good events (default 0.999, the most
            common availability SLO; set it from the metric's SLO).
        rules: the (long, short, burn, severity) rules; default the SRE workbook's table
            for a 30-day period (module docstring).
        min_bad: a rule fires only when its long window holds at least this many bad
            events (default 3). At normal traffic the burn rates imply hundreds of bad
            events, so this only matters for thin slices, where one or two unlucky
            events in a quiet hour would otherwise page.
    """

    objective: float = 0.999
    rules: tuple[BurnRule, ...] = WORKBOOK_RULES
    min_bad: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.objective < 1.0:
            raise InvalidInput(f"SLO objective must be between 0 and 1, not {self.objective}")
        if not self.rules:
            raise InvalidInput("burn-rate detector needs at least one rule")

    @property
    def budget(self) -> float:
        return 1.0 - self.objective

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BurnRateParams:
        check_keys(cls, data)
        values = dict(data)
        if "rules" in values:
            values["rules"] = tuple(
                r if isinstance(r, BurnRule) else BurnRule.from_dict(r) for r in values["rules"]
            )
        return cls(**values)


def _bad_and_events(point: SeriesPoint) -> tuple[float, float] | None:
    if point.numerator is not None and point.denominator is not None:
        return float(point.numerator), float(point.denominator)
    value = point.usable_value
    if value is not None and point.n is not None:
        return value * point.n, float(point.n)
    return None


class BurnRate:
    """Multi-window, multi-burn-rate SLO alerting (see the module docstring)."""

    name: ClassVar[str] = "burn_rate"

    def __init__(self, params: BurnRateParams | None = None) -> None:
        self._params = params or BurnRateParams()
        self._sums = WindowSums(max(r.long for r in self._params.rules))
        self._clock = StatusClock()
        self._order = TimeOrder()
        self._parameters = to_jsonable(self._params)  # shared by every state: read-only

    @property
    def params(self) -> BurnRateParams:
        return self._params

    def _burn(self, bad: float, events: float) -> float:
        return (bad / events) / self._params.budget if events > 0 else 0.0

    def update(self, point: SeriesPoint) -> DetectorState:
        self._order.check(point)
        p = self._params
        counts = _bad_and_events(point)
        if counts is not None:
            self._sums.add(point.window_start, point.at, *counts)
        now = point.at
        rules: list[dict[str, Any]] = []
        firing: dict[str, float] = {}
        nearest = 0.0
        for rule in p.rules:
            long_bad, long_events = self._sums.sums(now, rule.long)
            short_bad, short_events = self._sums.sums(now, rule.short)
            long_burn, short_burn = self._burn(long_bad, long_events), self._burn(short_bad, short_events)
            covered = self._sums.covers(now, rule.long)
            fires = covered and long_bad >= p.min_bad and min(long_burn, short_burn) >= rule.burn
            if covered:
                nearest = max(nearest, min(long_burn, short_burn) / rule.burn)
            if fires:
                past = min(long_burn, short_burn) - rule.burn
                firing[rule.severity] = max(firing.get(rule.severity, 0.0), past)
            rules.append(
                {
                    "long": format_duration(rule.long),
                    "short": format_duration(rule.short),
                    "burn": rule.burn,
                    "severity": rule.severity,
                    "covered": covered,
                    "long_burn": finite(long_burn),
                    "short_burn": finite(short_burn),
                    "long_bad": long_bad,
                    "long_events": long_events,
                    "firing": fires,
                }
            )
        status: Status
        if not any(r["covered"] for r in rules):
            status, score = "insufficient", 0.0
        elif "alarm" in firing:
            status, score = "alarm", firing["alarm"]
        elif "warn" in firing:
            status, score = "warn", firing["warn"]
        else:
            status, score = "ok", 0.0
        value = counts[0] / counts[1] if counts is not None and counts[1] > 0 else None
        evidence: dict[str, Any] = {
            "detector": self.name,
            "value": value,
            "baseline": p.budget,
            "bounds": {
                r["long"] + "/" + r["short"]: rule.burn * p.budget
                for r, rule in zip(rules, p.rules, strict=True)
            },
            "statistic": {"name": "burn_ratio", "value": finite(nearest)},
            "objective": p.objective,
            "budget": p.budget,
            "rules": rules,
            "parameters": self._parameters,
        }
        if status == "insufficient":
            evidence["reason"] = "the points do not reach back over any rule's long window yet"
        since = self._clock.tick(status, now)
        return DetectorState(status, float(finite(score) or 0.0), evidence, since, now)
