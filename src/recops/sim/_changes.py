"""Changes: model canaries, deploys and rollbacks, config changes, service deploys and
routine feature pipeline releases (background changes that explain nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

from recops.contract import CHANGES
from recops.sim import _arrow as A
from recops.sim._clock import DAY, HOUR, MINUTE, next_local_hour
from recops.sim._plan import Plan
from recops.sim._platform import FEATURE_GROUPS, STAGE_SERVICE


@dataclass(frozen=True)
class Change:
    """One change record, and the incident it belongs to (if any)."""

    ts: int
    kind: str
    target: str
    version: str
    actor: str
    description: str
    incident_id: str | None = None


def _stamp(ms: int, plan: Plan) -> str:
    return datetime.fromtimestamp(ms / 1000, plan.tz).strftime("%Y%m%d")


def make_changes(plan: Plan, rng: np.random.Generator) -> tuple[pa.Table, list[Change]]:
    """The changes table (sorted by ts) and the records as objects."""
    model = plan.config.model
    out: list[Change] = []
    versions = {v.version: v for v in plan.versions}
    for ms, action, name, target in plan.deploy_events:
        inc = versions[name].incident_id
        if action == "canary":
            share = versions[name].canary_share or 0.0
            text = f"canary {model}@{name} to {share:.0%} of users"
            out.append(Change(ms, "canary", model, name, "deploy-bot", text, inc))
        elif action == "deploy":
            text = f"promote {model}@{name} to production"
            out.append(Change(ms, "deploy", model, name, "deploy-bot", text, inc))
        else:
            text = f"roll back {model}@{name} to {target}"
            out.append(Change(ms, "rollback", model, target or name, "ml-oncall", text, inc))
    for n, config in enumerate(plan.of_kind("config_change"), start=1):
        stamp = _stamp(config.start_ms, plan)
        target, text = str(config.params["target"]), str(config.params["description"])
        out.append(
            Change(config.start_ms, "config", target, f"cfg-{stamp}.{n}", "platform-eng", text, config.id)
        )
    for slow in plan.of_kind("latency_regression"):
        if slow.params["service_deploy"]:
            service = STAGE_SERVICE[str(slow.params["stage"])]
            version = f"{service}-{_stamp(slow.start_ms, plan)}.1"
            text = f"release {service}"
            out.append(Change(slow.start_ms, "deploy", service, version, "deploy-bot", text, slow.id))
    out.extend(_routine(plan, rng))
    out.sort(key=lambda c: (c.ts, c.kind, c.target, c.version))
    table = pa.table(
        {
            "ts": A.times(np.array([c.ts for c in out], dtype=np.int64)),
            "kind": pa.array([c.kind for c in out], pa.string()),
            "target": pa.array([c.target for c in out], pa.string()),
            "version": pa.array([c.version for c in out], pa.string()),
            "actor": pa.array([c.actor for c in out], pa.string()),
            "description": pa.array([c.description for c in out], pa.string()),
        }
    ).cast(CHANGES.schema)
    return table, out


def _routine(plan: Plan, rng: np.random.Generator) -> list[Change]:
    """Weekly feature pipeline releases and service deploys every few days, kept away
    from incident windows so that no background change coincides with an incident."""
    quiet = [(i.start_ms - 6 * HOUR, i.end_ms + 6 * HOUR) for i in plan.incidents]

    def clear(ms: int) -> bool:
        return plan.start_ms <= ms < plan.end_ms and not any(a <= ms < b for a, b in quiet)

    out: list[Change] = []
    for g, group in enumerate(FEATURE_GROUPS):
        t = next_local_hour(plan.start_ms + (g + 1) * DAY, 11, plan.tz)
        week = 0
        while t < plan.end_ms:
            week += 1
            at = t + int(rng.integers(0, 50)) * MINUTE
            if clear(at):
                version = f"{group.name}-pipeline-{_stamp(at, plan)}"
                text = f"release {group.name} pipeline (week {week})"
                out.append(Change(at, "feature_pipeline", group.name, version, "data-eng", text))
            t += 7 * DAY
    services = ("api-gateway", *STAGE_SERVICE.values())
    t = plan.start_ms + DAY
    while t < plan.end_ms:
        at = next_local_hour(t, int(rng.integers(9, 17)), plan.tz) + int(rng.integers(0, 60)) * MINUTE
        service = services[int(rng.integers(0, len(services)))]
        if clear(at):
            version = f"{service}-{_stamp(at, plan)}.{int(rng.integers(1, 4))}"
            out.append(Change(at, "deploy", service, version, "deploy-bot", f"release {service}"))
        t += int(rng.integers(3, 5)) * DAY
    return out
