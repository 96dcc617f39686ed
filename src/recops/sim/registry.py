"""Fill a workspace's registry from a simulated world's ground truth.

The simulator serves model versions through canaries, deploys and rollbacks; a real
platform's training pipeline and deploy tooling would register those versions and move
the aliases. This does the same from the ground truth, at the simulated times, so the
registry, gates, rollback and the dashboard's model pages have the world's history.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from recops.registry.aliases import set_alias
from recops.registry.versions import record_validation, register_version
from recops.sim.truth import GroundTruth
from recops.store import Store

DEPLOY_BOT = "deploy-bot"


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _first_seen(v: dict[str, Any], world_start: datetime) -> datetime:
    times = [t for t in (_at(v.get("canary_start")), _at(v.get("deployed_at"))) if t is not None]
    return min(times) if times else world_start


def register_world(store: Store, truth: GroundTruth) -> list[str]:
    """Register every served version and replay its alias moves; returns the versions in order."""
    start = _at(truth.start)
    assert start is not None
    versions = sorted(truth.model_versions, key=lambda v: _first_seen(v, start))
    moves: list[tuple[datetime, str, str, str | None]] = []  # (at, alias, version, reason)
    previous: str | None = None
    for v in versions:
        name = str(v["version"])
        seen = _first_seen(v, start)
        created = min(seen, start) - timedelta(days=1) if previous is None else seen - timedelta(days=1)
        register_version(
            store,
            model=truth.model,
            version=name,
            artifact_uri=f"s3://models/{truth.model}/{name}",
            artifact_digest="sha256:" + hashlib.sha256(f"{truth.model}/{name}".encode()).hexdigest(),
            params={"simulated": True},
            metrics={"offline_ctr": round(float(v.get("true_ctr") or 0.0), 6)},
            created_by="training-pipeline",
            created_at=created,
            origin="api",
        )
        record_validation(
            store, truth.model, name, name="gate:production", passed=True, origin="gate",
            actor=DEPLOY_BOT, at=created + timedelta(hours=12),
        )  # fmt: skip
        canary, deployed, rolled_back = (
            _at(v.get(k)) for k in ("canary_start", "deployed_at", "rolled_back_at")
        )
        if canary is not None:
            moves.append((canary, "canary", name, "canary start"))
        if deployed is not None or previous is None:
            moves.append((deployed or created, "production", name, "deploy"))
        if rolled_back is not None and previous is not None:
            moves.append((rolled_back, "production", previous, f"roll back {name}"))
        if rolled_back is None:
            previous = name
    for when, alias, name, reason in sorted(moves, key=lambda m: m[0]):
        set_alias(store, truth.model, alias, name, actor=DEPLOY_BOT, reason=reason, at=when)
    return [str(v["version"]) for v in versions]
