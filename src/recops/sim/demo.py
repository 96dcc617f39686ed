"""A demo workspace: simulate weeks of a platform, ingest them, fill the registry, monitor, detect.

``recops demo``, the server's tests and ``bench/server.py`` all build their workspace here.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recops.contract import KINDS
from recops.errors import InvalidInput
from recops.ingest import ingest_files
from recops.sim.config import SimConfig
from recops.sim.registry import register_world
from recops.sim.world import World, simulate
from recops.workspace import Workspace

MARKER = ".recops-demo"
# (step, done, total) → None; steps are "simulate", "ingest", "registry", "monitors", "diagnose".
Progress = Callable[[str, int, int], None]


@dataclass
class DemoWorkspace:
    """What :func:`build_demo` made."""

    root: Path
    world: World
    stored: dict[str, int]
    expected: dict[str, int]
    versions: list[str]
    seconds: float


def _quiet(_step: str, _done: int, _total: int) -> None:
    return None


def fresh(directory: Path) -> None:
    """Remove an earlier demo in ``directory``; refuse to touch anything else.

    Raises:
        InvalidInput: ``directory`` exists and was not made by the demo.
    """
    if directory.exists():
        if not (directory / MARKER).exists():
            raise InvalidInput(f"{directory} exists and was not made by recops demo; choose another --dir")
        shutil.rmtree(directory)


def build_demo(directory: Path, config: SimConfig, *, progress: Progress = _quiet) -> DemoWorkspace:
    """Simulate ``config``, write its files under ``directory/raw`` and build the workspace."""
    fresh(directory)
    started = time.perf_counter()
    progress("simulate", 0, 1)
    world = simulate(config)
    raw = directory / "raw"
    manifest = world.write(raw, fmt="parquet")
    progress("simulate", 1, 1)
    with Workspace.init(directory) as ws:
        (directory / MARKER).write_text("created by recops demo\n")
        for i, kind in enumerate(KINDS):
            if (raw / kind).exists():
                ingest_files(ws.lake, kind, [raw / kind])
            progress("ingest", i + 1, len(KINDS))
        con = ws.lake.connect()
        stored = {k: int(con.execute(f'SELECT count(*) FROM "{k}"').fetchall()[0][0]) for k in KINDS}
        versions = register_world(ws.store, world.truth)
        progress("registry", 1, 1)
        monitor_and_detect(ws, datetime.fromisoformat(world.truth.end), progress=progress)
    return DemoWorkspace(
        root=directory.resolve(),
        world=world,
        stored=stored,
        expected={k: m.distinct_valid for k, m in manifest.counts.items()},
        versions=versions,
        seconds=round(time.perf_counter() - started, 1),
    )


def monitor_and_detect(ws: Workspace, end: datetime, *, progress: Progress = _quiet) -> None:
    """Compute the monitors over the whole world, run detection as of its end, diagnose each group."""
    from recops.detect.cycle import detection_cycle
    from recops.diagnose.stored import diagnose_groups
    from recops.monitors import run_monitors

    def advance(_step: str, done: int, total: int) -> None:
        progress("monitors", done, total)

    run_monitors(ws.config, ws.lake, progress=advance)
    # The world's end is "now" for the dead man's switch: the data is weeks old by design.
    detection_cycle(ws.store, ws.config, at=end, progress=advance, lake=ws.lake)
    diagnose_groups(
        ws.store, ws.lake, ws.config, progress=lambda done, total: progress("diagnose", done, total)
    )


def incidents_of(world: World) -> list[dict[str, Any]]:
    return [
        {"kind": i.kind, "start": i.start, "end": i.end, "benign": i.benign, "entity": i.entity}
        for i in world.truth.incidents
    ]
