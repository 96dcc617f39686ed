"""A small simulated world, ingested once per test session and copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from recops.ingest import ingest_files
from recops.sim import SimConfig, World, simulate
from recops.workspace import Workspace

KINDS = ["requests", "outcomes", "feature_rows", "arrivals", "changes"]


def build_world_workspace(root: Path, config: SimConfig) -> World:
    """Simulate ``config``, write it as Parquet under ``root/raw`` and ingest it into ``root``."""
    world = simulate(config)
    world.write(root / "raw", fmt="parquet")
    with Workspace.init(root) as ws:
        for kind in KINDS:
            ingest_files(ws.lake, kind, [root / "raw" / kind])
    return world


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Three healthy days at 3,000 requests a day (seed 3), ingested; never modified."""
    root = tmp_path_factory.mktemp("small-world") / "ws"
    world = build_world_workspace(root, SimConfig(seed=3, days=3, requests_per_day=3_000, incidents=[]))
    return root, world


@pytest.fixture
def world_ws(small_world: tuple[Path, World], tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the small world's workspace (store and lake) for one test."""
    root = tmp_path / "ws"
    shutil.copytree(small_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    yield ws
    ws.close()
