"""A small simulated world with a bad deploy, shared by the respond tests.

The simulator injects ``bad_deploy_segment``: ranker@v13 goes to a canary, then to
production, and the ground truth says when the on-call rolled it back. The world is
ingested WITHOUT the simulator's own ``rollback`` change record: the tests perform the
rollback through recops at the ground-truth time instead, so every record of it comes
from recops. The registry is filled from the ground truth: both versions registered,
both passed their production gates (the bad one got through: its regression is in one
device segment), production aliased to v12 then v13 at the true deploy time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from recops.ingest import ingest_files, ingest_table
from recops.registry.aliases import set_alias
from recops.registry.versions import record_validation, register_version
from recops.sim import Incident, SimConfig, World, simulate
from recops.workspace import Workspace

KINDS = ["requests", "outcomes", "feature_rows", "arrivals"]
BAD = Incident("bad_deploy_segment", start="2026-10-03T06:00", hours=30, params={"canary_hours": 6})
STALE = Incident("stale_feature_group", start="2026-10-02T08:00", hours=6)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Truth:
    """What the tests need from the simulator's ground truth."""

    model: str
    good: str
    bad: str
    good_deployed: datetime
    canary_start: datetime
    deployed: datetime
    rolled_back: datetime
    world_start: datetime
    world_end: datetime
    stale_start: datetime
    stale_end: datetime
    stale_group: str


def build(root: Path, *, store_url: str | None = None) -> tuple[World, Truth]:
    """Simulate, ingest (without the simulator's rollback record) and fill the registry."""
    world = simulate(
        SimConfig(seed=5, start="2026-10-01", days=5, requests_per_day=2_500, incidents=[STALE, BAD])
    )
    world.write(root / "raw", fmt="parquet")
    versions = {v["version"]: v for v in world.truth.model_versions}
    bad = world.truth.incident("bad_deploy_segment")
    stale = world.truth.incident("stale_feature_group")
    bad_v = str(bad.params["version"])
    good_v = world.config.initial_version
    truth = Truth(
        model=world.truth.model,
        good=good_v,
        bad=bad_v,
        good_deployed=at(versions[good_v]["deployed_at"]),
        canary_start=at(versions[bad_v]["canary_start"]),
        deployed=at(versions[bad_v]["deployed_at"]),
        rolled_back=at(versions[bad_v]["rolled_back_at"]),
        world_start=at(world.truth.start),
        world_end=at(world.truth.end),
        stale_start=at(stale.start),
        stale_end=at(stale.end),
        stale_group=str(stale.entity["feature_group"]),
    )
    with Workspace.init(root, store_url=store_url) as ws:
        for kind in KINDS:
            ingest_files(ws.lake, kind, [root / "raw" / kind])
        changes = world.tables["changes"]
        ingest_table(
            ws.lake, "changes", changes.filter(pc.not_equal(changes["kind"], "rollback")), origin="sim"
        )
        for v, when in ((good_v, truth.good_deployed - timedelta(days=1)), (bad_v, truth.canary_start)):
            register_version(
                ws.store, model=truth.model, version=v, artifact_uri=f"s3://models/{v}", created_at=when
            )
            record_validation(
                ws.store, truth.model, v, name="gate:production", passed=True, origin="gate", at=when
            )
        set_alias(ws.store, truth.model, "production", good_v, at=truth.good_deployed, actor="deploy-bot")
        set_alias(ws.store, truth.model, "canary", bad_v, at=truth.canary_start, actor="deploy-bot")
        set_alias(ws.store, truth.model, "production", bad_v, at=truth.deployed, actor="deploy-bot")
    return world, truth


@pytest.fixture(scope="session")
def bad_deploy_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World, Truth]:
    root = tmp_path_factory.mktemp("bad-deploy-world") / "ws"
    world, truth = build(root)
    return root, world, truth


@pytest.fixture
def bad_ws(bad_deploy_world: tuple[Path, World, Truth], tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the bad-deploy workspace for one test."""
    root = tmp_path / "ws"
    shutil.copytree(bad_deploy_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    yield ws
    ws.close()
