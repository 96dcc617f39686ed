"""The ground truth of a simulated world: what was injected, when it became visible,
what it affected and by how much (docs/ground-truth.schema.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from recops.sim._arrivals import ArrivalFacts
from recops.sim._changes import Change
from recops.sim._clock import rfc3339
from recops.sim._features import Runs
from recops.sim._plan import ModelVersion, Plan, ResolvedIncident
from recops.sim._platform import (
    CANDIDATE_SOURCES,
    FEATURE_GROUPS,
    GROUP_BY_NAME,
    POSITION_DECAY,
    REQUEST_FEATURES,
    SOURCE_BY_NAME,
    SOURCE_MIX,
    SOURCES,
    SURFACE_SHARES,
    SURFACES,
)
from recops.sim._requests import CLICK_BIAS, Served

SCHEMA_VERSION = 1
# A metric incident's data counts as visibly wrong once a quarter of its injected effect
# on the entity it names is reached: a slow decay a quarter of the way along its ramp, a
# bad deploy once it serves at least a quarter of its segment (decision 0050).
VISIBLE_FRACTION = 0.25


@dataclass(frozen=True)
class IncidentTruth:
    """One injected incident or benign event. Times are RFC 3339 UTC strings."""

    id: str
    kind: str
    benign: bool
    start: str
    detectable_at: str | None
    end: str
    entity: dict[str, Any]
    expected_family: str
    effect: dict[str, Any]
    params: dict[str, Any]
    changes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class GroundTruth:
    """Everything a test or benchmark needs to score detection and diagnosis."""

    seed: int
    start: str
    end: str
    timezone: str
    days: int
    requests_per_day: int
    model: str
    model_versions: list[dict[str, Any]]
    feature_groups: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    surfaces: dict[str, float]
    candidate_sources: dict[str, dict[str, float]]
    click_model: dict[str, Any]
    incidents: list[IncidentTruth]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict following docs/ground-truth.schema.json."""
        return asdict(self)

    def incident(self, kind: str) -> IncidentTruth:
        """The first incident of ``kind``.

        Raises:
            KeyError: if none was injected.
        """
        for incident in self.incidents:
            if incident.kind == kind:
                return incident
        raise KeyError(kind)


def _time(ms: int | None) -> str | None:
    return None if ms is None else rfc3339(ms)


def build_truth(
    plan: Plan, runs: dict[str, Runs], served: Served, arrivals: ArrivalFacts, changes: list[Change]
) -> GroundTruth:
    """Assemble the ground truth from the plan and what the generators report."""
    cfg = plan.config
    versions = []
    for v in plan.versions:
        versions.append(
            {
                "version": v.version,
                "deployed_at": _time(v.deployed_ms),
                "canary_start": _time(v.canary_start_ms),
                "canary_share": v.canary_share,
                "rolled_back_at": _time(v.rolled_back_ms),
                "incident_id": v.incident_id,
                "true_ctr": served.true_ctr[v.version]["overall"],
                "true_ctr_by_segment": served.true_ctr[v.version]["by_segment"],
            }
        )
    groups = [
        {
            "name": g.name,
            "entity": g.entity,
            "schedule": g.schedule,
            "every_seconds": g.every_ms // 1000,
            "offset_seconds": g.offset_ms // 1000,
            "ttl_seconds": g.ttl_ms // 1000,
            "typical_lag_seconds": g.lag_median_ms // 1000,
            "features": [*g.numeric, *g.strings],
            "request_features": [f for f, group in REQUEST_FEATURES if group == g.name],
        }
        for g in FEATURE_GROUPS
    ]
    sources = [
        {
            "name": s.name,
            "cadence": "hourly" if s.hourly else "daily",
            "partition_format": "YYYY-MM-DDTHH" if s.hourly else "YYYY-MM-DD",
            "expected_delay_seconds": s.delay_median_ms // 1000,
            "tolerance_seconds": s.tolerance_ms // 1000,
            "schema": dict(s.schema),
        }
        for s in SOURCES
    ]
    click_model = {
        "formula": "P(click) = (1 + position) ** -position_decay[surface] "
        "* sigmoid(relevance + click_bias) * incident_factor",
        "position_decay": dict(zip(SURFACES, POSITION_DECAY, strict=True)),
        "click_bias": CLICK_BIAS,
        "baseline_ctr": round(served.baseline_ctr, 6),
        "explore_rate": cfg.explore_rate,
    }
    by_change: dict[str, list[dict[str, Any]]] = {}
    for c in changes:
        if c.incident_id:
            by_change.setdefault(c.incident_id, []).append(
                {"ts": rfc3339(c.ts), "kind": c.kind, "target": c.target, "version": c.version}
            )
    incidents = [_incident(plan, inc, runs, arrivals, by_change.get(inc.id, [])) for inc in plan.incidents]
    return GroundTruth(
        seed=cfg.seed,
        start=rfc3339(plan.start_ms),
        end=rfc3339(plan.end_ms),
        timezone=cfg.timezone,
        days=cfg.days,
        requests_per_day=cfg.requests_per_day,
        model=cfg.model,
        model_versions=versions,
        feature_groups=groups,
        sources=sources,
        surfaces=dict(zip(SURFACES, SURFACE_SHARES, strict=True)),
        candidate_sources={
            surface: {s: share for s, share in zip(CANDIDATE_SOURCES, mix, strict=True) if share}
            for surface, mix in zip(SURFACES, SOURCE_MIX, strict=True)
        },
        click_model=click_model,
        incidents=incidents,
    )


def _deploy_visible(version: ModelVersion, inc: ResolvedIncident) -> int | None:
    """When a bad version serves a quarter of its segment: the canary's start if the canary
    takes that share, else the full rollout (None if it was rolled back first)."""
    if version.canary_start_ms is not None and (version.canary_share or 0.0) >= VISIBLE_FRACTION:
        return version.canary_start_ms
    if version.canary_start_ms is None:
        return inc.start_ms
    return version.deployed_ms


def _incident(
    plan: Plan,
    inc: ResolvedIncident,
    runs: dict[str, Runs],
    arrivals: ArrivalFacts,
    changes: list[dict[str, Any]],
) -> IncidentTruth:
    p = inc.params
    name = inc.kind.name
    model = plan.config.model
    version = next((v.version for v in plan.versions if v.incident_id == inc.id), None)
    entity: dict[str, Any]
    effect: dict[str, Any]
    visible: int | None = inc.start_ms
    if name == "stale_feature_group":
        group = GROUP_BY_NAME[str(p["group"])]
        entity = {"feature_group": group.name}
        effect = {
            "metric": "ctr",
            "relative_change": p["ctr_relative_change"],
            "feature_ts": "frozen",
            "null_after_seconds": group.ttl_ms // 1000,
            "features": [f for f, g in REQUEST_FEATURES if g == group.name],
        }
        visible = _stale_visible(runs[group.name], inc, plan.end_ms)
    elif name == "upstream_schema_change":
        source = SOURCE_BY_NAME[str(p["source"])]
        feature = str(p["feature"])
        group_name = dict(REQUEST_FEATURES)[feature]
        entity = {
            "source": source.name,
            "column": p["column"],
            "feature": feature,
            "feature_group": group_name,
        }
        effect = {
            "column": p["column"],
            "from_type": dict(source.schema).get(str(p["column"])),
            "to_type": p["to_type"],
            "feature": feature,
            "scale": p["scale"],
            "metric": "ctr",
            "relative_change": p["ctr_relative_change"],
        }
        r = runs[group_name]
        scaled = r.materialized_ms[r.scale[feature] != 1.0]
        moments = [int(m) for m in (*scaled[:1], arrivals.schema_first_landed.get(inc.id)) if m is not None]
        visible = min(moments) if moments else None
    elif name == "slow_metric_decay":
        entity = {"model": model, "metric": "ctr"}
        effect = {"metric": "ctr", "relative_change": p["relative_change"], "shape": "linear"}
        visible = inc.start_ms + int(VISIBLE_FRACTION * (inc.end_ms - inc.start_ms))
    elif name == "bad_deploy_segment":
        segment = {"key": p["segment_key"], "value": p["segment_value"]}
        entity = {"model": model, "model_version": version, "segment": segment}
        effect = {"metric": "ctr", "relative_change": p["relative_change"], "segment": segment}
        visible = _deploy_visible(next(v for v in plan.versions if v.incident_id == inc.id), inc)
    elif name == "latency_regression":
        entity = {"stage": p["stage"], "surface": p["surface"]}
        effect = {"metric": "latency_ms", "quantile": 0.99, "absolute_change_ms": p["added_p99_ms"]}
    elif name == "late_arrivals":
        partitions, missing, first_due = arrivals.late.get(inc.id, ([], [], None))
        source = SOURCE_BY_NAME[str(p["source"])]
        entity = {"source": source.name, "partitions": partitions, "missing_partitions": missing}
        effect = {"delay_hours": p["delay_hours"], "missing_share": p["missing_share"]}
        visible = None if first_due is None else first_due + source.tolerance_ms
    elif name == "candidate_source_outage":
        entity = {"candidate_source": p["source"]}
        effect = {"metric": "ctr", "relative_change": p["relative_change"], "candidate_share": 0.0}
    elif name == "no_effect_deploy":
        entity = {"model": model, "model_version": version}
        effect = {"metric": "ctr", "relative_change": 0.0}
    elif name in ("traffic_spike", "holiday"):
        entity = {"metric": "request_volume"}
        effect = {"metric": "request_volume", "multiplier": p["multiplier"]}
    else:  # config_change
        entity = {"target": p["target"]}
        effect = {}
    if inc.kind.benign:
        visible = None
    return IncidentTruth(
        id=inc.id,
        kind=name,
        benign=inc.kind.benign,
        start=rfc3339(inc.start_ms),
        detectable_at=_time(visible),
        end=rfc3339(inc.end_ms),
        entity=entity,
        expected_family=inc.kind.expected_family,
        effect=effect,
        params={k: v for k, v in p.items() if v is not None} | ({"version": version} if version else {}),
        changes=changes,
    )


def _stale_visible(r: Runs, inc: ResolvedIncident, world_end: int) -> int | None:
    """When served values of the stalled group first get older than its TTL (None if the
    group resumes before that)."""
    before = np.searchsorted(r.event_ms, inc.start_ms) - 1
    if before < 0:
        return inc.start_ms
    expiry = int(r.event_ms[before]) + r.group.ttl_ms
    after = np.searchsorted(r.event_ms, inc.end_ms)
    resumed = int(r.materialized_ms[after]) if after < len(r.event_ms) else None
    if resumed is not None and resumed <= expiry:
        return None
    return expiry if expiry < world_end else None
