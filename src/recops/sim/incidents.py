"""The incident kinds the simulator can inject, with their parameters and defaults.

Each kind is data: what it is called, whether it is benign (a change that should NOT
raise an alarm), which monitor family should notice it, how long it lasts by default and
which parameters it takes. The generators read the resolved parameters; docs/simulator.md
describes each kind's mechanism and its signature in the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

FAMILIES = ("arrival", "quality", "drift", "freshness", "metrics", "latency")


@dataclass(frozen=True)
class IncidentKind:
    """One kind of injectable incident.

    Attributes:
        name: the name used in :class:`recops.sim.Incident`.
        benign: true for events that change the data but not its health (no alarm due).
        expected_family: the monitor family that should notice it (for benign events,
            the family where a false alarm would show).
        default_hours: duration when an incident gives none; for deploys, the hours
            AFTER the canary phase (the canary phase is added).
        defaults: every accepted parameter with its default (``None``: derived, e.g.
            the next model version or the config's canary share).
        description: one line on the mechanism.
    """

    name: str
    benign: bool
    expected_family: str
    default_hours: float
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def is_deploy(self) -> bool:
        return self.name in ("bad_deploy_segment", "no_effect_deploy")


def _kind(
    name: str, benign: bool, family: str, hours: float, description: str, /, **defaults: Any
) -> IncidentKind:
    return IncidentKind(name, benign, family, hours, MappingProxyType(defaults), description)


_KINDS = (
    _kind(
        "stale_feature_group", False, "freshness", 10,
        "a feature group stops materializing: feature_ts stops advancing, its features are "
        "served null once older than the TTL, CTR dips slightly",
        group="session_context", ctr_relative_change=-0.05,
    ),
    _kind(
        "upstream_schema_change", False, "drift", 30,
        "an upstream source changes a column's type and unit: its arrivals' schema map "
        "changes and the request feature derived from it is scaled (e.g. x1000)",
        source="play_events", column="watch_duration", to_type="int64",
        feature="session_watch_minutes", scale=1000.0, ctr_relative_change=0.0,
    ),
    _kind(
        "slow_metric_decay", False, "metrics", 504,
        "CTR decays linearly to (1 + relative_change) times its level, then recovers",
        relative_change=-0.2,
    ),
    _kind(
        "bad_deploy_segment", False, "metrics", 48,
        "a new model version (canary, then production, then rolled back at the end) that "
        "hurts CTR in one segment only",
        version=None, segment_key="device", segment_value="android_tv", relative_change=-0.3,
        canary_share=None, canary_hours=None,
    ),
    _kind(
        "latency_regression", False, "latency", 8,
        "one serving stage on one surface gets slower in its tail (p99 + added_p99_ms), "
        "after a service deploy",
        stage="ranking", surface="home_row", added_p99_ms=80.0, service_deploy=True,
    ),
    _kind(
        "late_arrivals", False, "arrival", 8,
        "partitions of a source due during the incident land delay_hours late; a share "
        "never lands",
        source="play_events", delay_hours=6.0, missing_share=0.25,
    ),
    _kind(
        "candidate_source_outage", False, "quality", 5,
        "a candidate source returns nothing; slates are backfilled from the other sources "
        "and CTR dips a little",
        source="trending", relative_change=-0.04,
    ),
    _kind(
        "no_effect_deploy", True, "metrics", 24,
        "a new model version of the same quality, rolled out through a canary",
        version=None, canary_share=None, canary_hours=None,
    ),
    _kind(
        "traffic_spike", True, "metrics", 4,
        "request volume multiplied for some hours; every ratio unchanged",
        multiplier=2.5,
    ),
    _kind(
        "config_change", True, "metrics", 1,
        "a configuration change record with no effect on the data",
        target="ranker-service", description="raise candidate cache TTL from 300 s to 600 s",
    ),
    _kind(
        "holiday", True, "metrics", 24,
        "a day of holiday-shaped traffic: more volume, more daytime viewing, ratios unchanged",
        multiplier=1.6, name="public holiday",
    ),
)  # fmt: skip
_BY_NAME = {k.name: k for k in _KINDS}


def incident_kinds() -> tuple[IncidentKind, ...]:
    """Every incident kind the simulator knows, problems first, then benign events."""
    return _KINDS


def get_incident_kind(name: str) -> IncidentKind:
    """The incident kind called ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise ValueError(f"unknown incident kind {name!r}; expected one of {known}") from None


def resolve_params(kind: IncidentKind, params: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's defaults updated with ``params``.

    Raises:
        ValueError: for a parameter the kind does not take.
    """
    unknown = sorted(set(params) - set(kind.defaults))
    if unknown:
        accepted = ", ".join(kind.defaults) or "none"
        raise ValueError(
            f"incident {kind.name!r} takes no parameter {', '.join(unknown)}; accepted: {accepted}"
        )
    return {**kind.defaults, **params}
