"""simulate(): a whole world (every record kind plus its ground truth) from a config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from recops.contract import KINDS
from recops.sim._arrivals import make_arrivals
from recops.sim._changes import make_changes
from recops.sim._features import feature_rows, make_runs
from recops.sim._outcomes import make_outcomes
from recops.sim._plan import make_plan
from recops.sim._platform import make_population
from recops.sim._requests import make_requests
from recops.sim._traffic import request_times
from recops.sim._write import write_world
from recops.sim.config import SimConfig
from recops.sim.manifest import WriteManifest
from recops.sim.truth import GroundTruth, build_truth

# Each part of the world draws from its own stream, so that adding an incident of one
# kind does not reshuffle the users, the catalog or unrelated record kinds.
_STREAMS = ("population", "traffic", "runs", "requests", "outcomes", "features", "arrivals", "changes")


@dataclass(frozen=True, repr=False)
class World:
    """A simulated world.

    Attributes:
        config: the config it was made from.
        tables: one Arrow table per record kind (``requests``, ``outcomes``,
            ``feature_rows``, ``arrivals``, ``changes``), each with exactly the stored
            schema ``recops.contract.KINDS[kind].schema``.
        truth: what was injected and its expected effects.
    """

    config: SimConfig
    tables: Mapping[str, pa.Table]
    truth: GroundTruth

    def __repr__(self) -> str:
        rows = ", ".join(f"{name}={table.num_rows}" for name, table in self.tables.items())
        return f"World(seed={self.config.seed}, days={self.config.days}, {rows})"

    def write(
        self,
        directory: str | Path,
        fmt: str = "parquet",
        *,
        files_per_day: int = 1,
        duplicate_rate: float = 0.0,
        broken_rate: float = 0.0,
        conflict_rate: float = 0.0,
        seed: int | None = None,
    ) -> WriteManifest:
        """Write the world as files a platform would ship, with optional dirt.

        Layout: ``directory/<kind>/<YYYY-MM-DD>[_NN].<ext>`` (one file per UTC day of the
        kind's time column, split into ``files_per_day`` parts); Parquet feature rows go
        to ``directory/feature_rows/<group>/...`` with one column per feature. Also writes
        ``ground_truth.json`` and ``manifest.json``.

        Args:
            directory: where to write (created if needed).
            fmt: ``parquet``, ``jsonl`` or ``jsonl.gz``.
            files_per_day: parts per day file.
            duplicate_rate: share of valid records written a second time, identical.
            broken_rate: share of extra records that break one contract rule each (at
                least one per rule the format can express, when positive).
            conflict_rate: share of valid records re-sent later with the same key and
                different content.
            seed: seed of the dirt and of the JSON time forms (default: the world's).

        Returns:
            What was written, per kind: what a correct ingest must store and what it
            must drop or reject.

        Raises:
            ValueError: for an unknown format or rates outside [0, 1].
        """
        return write_world(
            self,
            Path(directory),
            fmt,
            files_per_day=files_per_day,
            duplicate_rate=duplicate_rate,
            broken_rate=broken_rate,
            conflict_rate=conflict_rate,
            seed=self.config.seed if seed is None else seed,
        )


def simulate(config: SimConfig | None = None) -> World:
    """Generate a world.

    Args:
        config: the settings; ``None`` for the defaults (6 weeks, 20,000 requests a
            day, one incident of every kind).

    Returns:
        The world: its tables and its ground truth.

    Raises:
        ValueError: for incidents that do not fit the platform (unknown targets).
    """
    cfg = config or SimConfig()
    rng = {name: np.random.default_rng([cfg.seed, i]) for i, name in enumerate(_STREAMS)}
    plan = make_plan(cfg)
    rpd = cfg.requests_per_day
    n_items = cfg.items or int(np.clip(rpd // 4, 500, 20_000))
    pop = make_population(
        rng["population"],
        seed=cfg.seed,
        n_users=cfg.users or int(np.clip(rpd * 2.5, 200, 3_000_000)),
        n_base_items=n_items,
        new_items_per_day=max(1.0, n_items / 600),
        start_ms=plan.start_ms,
        end_ms=plan.end_ms,
    )
    runs = make_runs(plan, rng["runs"])
    ts = request_times(plan, rng["traffic"])
    requests, served = make_requests(plan, pop, runs, ts, rng["requests"])
    outcomes = make_outcomes(plan, pop, served, rng["outcomes"])
    rows = feature_rows(plan, pop, runs, rng["features"])
    arrivals, facts = make_arrivals(plan, pop, ts, rng["arrivals"])
    changes, change_list = make_changes(plan, rng["changes"])
    tables = {
        "requests": requests,
        "outcomes": outcomes,
        "feature_rows": rows,
        "arrivals": arrivals,
        "changes": changes,
    }
    assert list(tables) == list(KINDS)
    return World(cfg, MappingProxyType(tables), build_truth(plan, runs, served, facts, change_list))
