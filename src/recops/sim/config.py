"""Simulation settings: :class:`SimConfig` and the :class:`Incident` list it carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from recops.sim._clock import DAY, HOUR, ceil_to, local_midnight_ms, next_local_hour
from recops.sim.incidents import get_incident_kind, resolve_params


@dataclass(frozen=True)
class Incident:
    """An incident (or benign event) to inject.

    Args:
        kind: one of :func:`recops.sim.incident_kinds` names.
        start: when it starts; a naive time is wall-clock time in the config's time zone.
        hours: how long it lasts; ``None`` for the kind's default (deploys: the canary
            phase plus the kind's default).
        params: effect sizes and targets, overriding the kind's defaults.
        id: a stable id for the ground truth; ``None`` numbers incidents by start time.

    Raises:
        ValueError: for an unknown kind or parameter, or a negative duration.
    """

    kind: str
    start: str | datetime
    hours: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        resolve_params(get_incident_kind(self.kind), self.params)
        if self.hours is not None and self.hours < 0:
            raise ValueError(f"incident {self.kind!r}: hours must be >= 0, got {self.hours}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True)
class SimConfig:
    """Everything that decides a simulated world; the same config gives the same world.

    Args:
        seed: random seed.
        start: first local day (``YYYY-MM-DD``); the world starts at its local midnight.
        days: number of days simulated.
        requests_per_day: average number of requests on a normal day.
        timezone: IANA time zone of the audience (daily and weekly seasonality).
        incidents: what to inject; ``None`` means :meth:`default_incidents`, an empty
            sequence means a healthy world.
        canary_share: share of users served a new model version during its canary.
        canary_hours: length of the canary phase of a deploy.
        candidates_per_request: candidates the ranker scores per request.
        shown_per_request: slate size on home_row and search (autoplay shows half).
        explore_rate: probability that a slate slot is filled by exploration.
        fallback_rate: share of requests served by the popularity fallback.
        error_rate: share of requests that fail (no slate).
        users: number of users (``None``: derived from ``requests_per_day``).
        items: number of catalog items at the start (``None``: derived).
        model: the ranker's registered model name.
        initial_version: the model version in production at the start.
    """

    seed: int = 7
    start: str | date = "2026-10-01"
    days: int = 42
    requests_per_day: int = 20_000
    timezone: str = "UTC"
    incidents: Sequence[Incident] | None = None
    canary_share: float = 0.1
    canary_hours: float = 24.0
    candidates_per_request: int = 20
    shown_per_request: int = 10
    explore_rate: float = 0.05
    fallback_rate: float = 0.012
    error_rate: float = 0.003
    users: int | None = None
    items: int | None = None
    model: str = "ranker"
    initial_version: str = "v12"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)
        checks = (
            (self.days >= 1, "days must be >= 1"),
            (self.requests_per_day >= 1, "requests_per_day must be >= 1"),
            (0.0 < self.canary_share < 1.0, "canary_share must be in (0, 1)"),
            (self.canary_hours >= 0, "canary_hours must be >= 0"),
            (
                1 <= self.shown_per_request <= self.candidates_per_request,
                "need 1 <= shown_per_request <= candidates_per_request",
            ),
            (0.0 <= self.explore_rate < 1.0, "explore_rate must be in [0, 1)"),
            (
                0.0 <= self.fallback_rate and 0.0 <= self.error_rate
                and self.fallback_rate + self.error_rate < 1.0,
                "fallback_rate and error_rate must be >= 0 with a sum below 1",
            ),
            (self.users is None or self.users >= 10, "users must be >= 10"),
            (self.items is None or self.items >= 50, "items must be >= 50"),
        )  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(f"SimConfig: {message}")
        if self.incidents is not None:
            object.__setattr__(self, "incidents", tuple(self.incidents))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start_ms(self) -> int:
        return local_midnight_ms(self.start, self.tz)

    @property
    def end_ms(self) -> int:
        first = date.fromisoformat(self.start) if isinstance(self.start, str) else self.start
        return local_midnight_ms(date.fromordinal(first.toordinal() + self.days), self.tz)

    def resolved_incidents(self) -> tuple[Incident, ...]:
        """The incidents this config injects (the defaults when ``incidents`` is None)."""
        if self.incidents is None:
            return tuple(self.default_incidents(self.start, self.days, self.timezone, self.canary_hours))
        return tuple(self.incidents)

    @staticmethod
    def default_incidents(
        start: str | date = "2026-10-01",
        days: int = 42,
        timezone: str = "UTC",
        canary_hours: float = 24.0,
    ) -> list[Incident]:
        """One incident of every kind, benign events included, spread without overlap.

        A quiet warm-up comes first (so baselines can form), then the short incidents one
        after another with gaps, and the slow CTR decay last (up to 3 weeks, to the end).

        Raises:
            ValueError: if ``days`` is too short to fit them all (under 14 days).
        """
        tz = ZoneInfo(timezone)
        first = date.fromisoformat(start) if isinstance(start, str) else start
        begin = local_midnight_ms(first, tz)
        end = local_midnight_ms(date.fromordinal(first.toordinal() + days), tz)
        best: list[Incident] = []
        best_decay = 0
        for warmup_days, gap_hours in ((5, 12), (3, 8), (2, 4), (1, 2)):
            placed, decay = _place_defaults(begin, end, warmup_days, gap_hours, tz, canary_hours)
            if decay > best_decay:
                best, best_decay = placed, decay
            if decay >= 7 * DAY:
                break
        if best_decay < DAY:
            raise ValueError(f"default incidents need more than {days} days; pass incidents=[...] instead")
        return best


# Order and placement of the default incidents: (kind, local hour to align to or None).
_DEFAULT_ORDER = (
    ("no_effect_deploy", 10),
    ("stale_feature_group", None),
    ("traffic_spike", 19),
    ("upstream_schema_change", None),
    ("config_change", None),
    ("latency_regression", None),
    ("holiday", 0),
    ("late_arrivals", None),
    ("candidate_source_outage", None),
    ("bad_deploy_segment", 10),
)


def _place_defaults(
    begin: int, end: int, warmup_days: int, gap_hours: int, tz: ZoneInfo, canary_hours: float
) -> tuple[list[Incident], int]:
    placed: list[Incident] = []
    t = begin + warmup_days * DAY
    for name, align in _DEFAULT_ORDER:
        kind = get_incident_kind(name)
        t = ceil_to(t, HOUR) if align is None else next_local_hour(t, align, tz)
        hours = kind.default_hours + (canary_hours if kind.is_deploy else 0.0)
        placed.append(Incident(name, _local_iso(t, tz), hours))
        t += int(hours * HOUR) + gap_hours * HOUR
    t = next_local_hour(t, 0, tz)
    decay = min(21 * DAY, end - t)
    if decay > 0:
        placed.append(Incident("slow_metric_decay", _local_iso(t, tz), decay / HOUR))
    return placed, decay


def _local_iso(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).replace(tzinfo=None).isoformat(timespec="minutes")
