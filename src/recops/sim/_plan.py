"""A config compiled for the generators: incident windows in epoch ms and the model
version timeline (canaries, deploys, rollbacks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from recops.sim._clock import DAY, HOUR, parse_instant
from recops.sim._platform import (
    CANDIDATE_SOURCES,
    COUNTRIES,
    DEVICES,
    GROUP_BY_NAME,
    REQUEST_FEATURES,
    SOURCE_BY_NAME,
    STAGES,
    SURFACES,
)
from recops.sim.config import SimConfig
from recops.sim.incidents import IncidentKind, get_incident_kind, resolve_params

SEGMENT_KEYS = {"device": DEVICES, "country": COUNTRIES, "surface": SURFACES}


@dataclass(frozen=True)
class ResolvedIncident:
    """An incident with its id, window in epoch ms and complete parameters."""

    id: str
    kind: IncidentKind
    start_ms: int
    end_ms: int
    params: dict[str, Any]

    def active(self, ms: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        return (ms >= self.start_ms) & (ms < self.end_ms)


@dataclass(frozen=True)
class ModelVersion:
    """A model version and its rollout, as planned."""

    version: str
    canary_start_ms: int | None = None
    canary_share: float | None = None
    deployed_ms: int | None = None
    rolled_back_ms: int | None = None
    incident_id: str | None = None


@dataclass(frozen=True)
class Timeline:
    """Which version serves whom, piecewise constant between change points.

    ``canary[i]`` is -1 when no canary runs in segment ``i``.
    """

    times: npt.NDArray[np.int64]
    prod: npt.NDArray[np.int64]
    canary: npt.NDArray[np.int64]
    share: npt.NDArray[np.float64]


@dataclass(frozen=True)
class Plan:
    """What the generators need from the config."""

    config: SimConfig
    tz: ZoneInfo
    start_ms: int
    end_ms: int
    incidents: tuple[ResolvedIncident, ...]
    versions: tuple[ModelVersion, ...]
    timeline: Timeline
    deploy_events: tuple[tuple[int, str, str, str | None], ...] = field(default=())

    def of_kind(self, name: str) -> Iterator[ResolvedIncident]:
        return (i for i in self.incidents if i.kind.name == name)

    @property
    def version_names(self) -> list[str]:
        return [v.version for v in self.versions]


def make_plan(config: SimConfig) -> Plan:
    """Resolve the config's incidents and the model version timeline.

    Raises:
        ValueError: for incident parameters that name nothing the platform has.
    """
    tz = config.tz
    raw = sorted(
        enumerate(config.resolved_incidents()),
        key=lambda pair: (parse_instant(pair[1].start, tz), pair[0]),
    )
    incidents = []
    for number, (_, incident) in enumerate(raw, start=1):
        kind = get_incident_kind(incident.kind)
        params = resolve_params(kind, incident.params)
        hours = incident.hours
        if hours is None:
            canary = params.get("canary_hours") or config.canary_hours
            hours = kind.default_hours + (canary if kind.is_deploy else 0.0)
        start = parse_instant(incident.start, tz)
        if not config.start_ms <= start < config.end_ms:
            raise ValueError(
                f"incident {incident.kind!r} starts at {incident.start}, outside the simulated "
                f"days {config.start} + {config.days}"
            )
        resolved = ResolvedIncident(
            incident.id or f"inc-{number:02d}", kind, start, start + round(hours * HOUR), params
        )
        _check_params(resolved)
        incidents.append(resolved)
    versions, events = _versions(config, incidents)
    return Plan(
        config=config,
        tz=tz,
        start_ms=config.start_ms,
        end_ms=config.end_ms,
        incidents=tuple(incidents),
        versions=tuple(versions),
        timeline=_timeline(config, versions, events),
        deploy_events=tuple(events),
    )


def _check_params(incident: ResolvedIncident) -> None:
    p = incident.params
    name = incident.kind.name
    problems: list[str] = []
    if name == "stale_feature_group" and p["group"] not in GROUP_BY_NAME:
        problems.append(f"group must be one of {sorted(GROUP_BY_NAME)}")
    if name in ("upstream_schema_change", "late_arrivals") and p["source"] not in SOURCE_BY_NAME:
        problems.append(f"source must be one of {sorted(SOURCE_BY_NAME)}")
    if name == "upstream_schema_change" and p["feature"] not in dict(REQUEST_FEATURES):
        problems.append(f"feature must be one of {[f for f, _ in REQUEST_FEATURES]}")
    if name == "latency_regression" and (p["stage"] not in STAGES or p["surface"] not in SURFACES):
        problems.append(f"stage must be one of {STAGES}, surface one of {SURFACES}")
    if name == "candidate_source_outage" and p["source"] not in CANDIDATE_SOURCES:
        problems.append(f"source must be one of {CANDIDATE_SOURCES}")
    if name == "bad_deploy_segment" and p["segment_value"] not in SEGMENT_KEYS.get(p["segment_key"], ()):
        problems.append(f"segment must be one of {SEGMENT_KEYS}")
    if problems:
        raise ValueError(f"incident {incident.id} ({name}): " + "; ".join(problems))


def _next_version(previous: str, taken: set[str]) -> str:
    match = re.fullmatch(r"(.*?)(\d+)", previous)
    stem, number = (match.group(1), int(match.group(2))) if match else (previous + "-", 1)
    candidate = f"{stem}{number + 1}"
    while candidate in taken:
        number += 1
        candidate = f"{stem}{number + 1}"
    return candidate


def _versions(
    config: SimConfig, incidents: list[ResolvedIncident]
) -> tuple[list[ModelVersion], list[tuple[int, str, str, str | None]]]:
    """Model versions and the (time, action, version, rollback target) events."""
    versions = [ModelVersion(config.initial_version, deployed_ms=config.start_ms - 7 * DAY)]
    events: list[tuple[int, str, str, str | None]] = []
    latest = config.initial_version
    production = config.initial_version
    for incident in incidents:
        if not incident.kind.is_deploy:
            continue
        p = incident.params
        taken = {v.version for v in versions}
        name = str(p["version"]) if p["version"] else _next_version(latest, taken)
        latest = name
        share = float(p["canary_share"] or config.canary_share)
        canary_hours = p["canary_hours"] if p["canary_hours"] is not None else config.canary_hours
        deploy = incident.start_ms + round(float(canary_hours) * HOUR)
        has_canary = deploy > incident.start_ms
        rollback = incident.end_ms if incident.kind.name == "bad_deploy_segment" else None
        if rollback is not None and deploy >= rollback:
            deploy_ms = None
        else:
            deploy_ms = deploy
        if has_canary:
            events.append((incident.start_ms, "canary", name, None))
        if deploy_ms is not None:
            events.append((deploy_ms, "deploy", name, None))
        if rollback is not None:
            events.append((rollback, "rollback", name, production))
        else:
            production = name
        versions.append(
            ModelVersion(
                name,
                canary_start_ms=incident.start_ms if has_canary else None,
                canary_share=share if has_canary else None,
                deployed_ms=deploy_ms,
                rolled_back_ms=rollback,
                incident_id=incident.id,
            )
        )
    events.sort(key=lambda e: e[0])
    return versions, events


def _timeline(
    config: SimConfig, versions: list[ModelVersion], events: list[tuple[int, str, str, str | None]]
) -> Timeline:
    code = {v.version: i for i, v in enumerate(versions)}
    share_of = {v.version: v.canary_share or 0.0 for v in versions}
    times, prod, canary, share = [np.iinfo(np.int64).min], [0], [-1], [0.0]
    for ms, action, version, target in events:
        p, c, s = prod[-1], canary[-1], share[-1]
        if action == "canary":
            c, s = code[version], share_of[version]
        elif action == "deploy":
            p, c, s = code[version], -1, 0.0
        else:  # rollback: production returns to the target, an open canary is stopped
            p, c, s = code[target or config.initial_version], -1, 0.0
            if prod[-1] != code[version]:
                p = prod[-1]
        times.append(ms)
        prod.append(p)
        canary.append(c)
        share.append(s)
    return Timeline(
        np.array(times, dtype=np.int64),
        np.array(prod, dtype=np.int64),
        np.array(canary, dtype=np.int64),
        np.array(share, dtype=np.float64),
    )
