"""Every monitor family gives the same series on DuckDB and on Spark.

One simulated world is ingested once and copied; the monitors run on DuckDB over one
copy and on Spark (local mode, the same Parquet files) over the other. Every stored
point must exist on both sides; counts (``n``, numerators, denominators of counts) must
be equal exactly and values within 1e-9 relative: the engines compute the same
aggregates and only floating-point sums in a different order may differ. Quantiles are
read off counts per log-spaced bin (``recops.monitors.quantiles``), integers that are the
same on both engines, so they agree to the same 1e-9; the one documented exception, a
value on a bin's edge that one engine's logarithm puts in the next bin, would move a
quantile by at most twice the bins' relative accuracy (1%).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recops.monitors import read_series, run_monitors
from recops.monitors.engine import spark_engine, spark_session
from recops.sim import Incident, SimConfig
from recops.workspace import Workspace
from tests.unit.monitors.conftest import build_world_workspace

pytestmark = pytest.mark.spark

KEY = ("metric", "subject", "slice", "granularity", "window_start")
RELATIVE = 1e-9


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_session("recops-monitor-conformance", driver_memory="1g")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("conformance") / "ws"
    incidents = [
        Incident("stale_feature_group", start="2026-10-02T06:00", hours=6),
        Incident("late_arrivals", start="2026-10-02T02:00", hours=6),
    ]
    build_world_workspace(
        root, SimConfig(seed=11, start="2026-10-01", days=3, requests_per_day=1_500, incidents=incidents)
    )
    return root


def _points(root: Path, tmp: Path, engine: str, spark: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
    copy = tmp / engine
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("raw"))
    with Workspace.open(copy) as ws:
        opened = spark_engine(ws.lake, spark) if engine == "spark" else None
        report = run_monitors(ws.config, ws.lake, engine=opened)
        assert report.engine == engine
        rows = read_series(ws.store).to_pylist()
    return {tuple(r[k] for k in KEY): r for r in rows}


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= RELATIVE * max(abs(a), abs(b), 1e-300)


def test_duckdb_and_spark_store_the_same_series(world_root: Path, tmp_path: Path, spark: Any) -> None:
    duck = _points(world_root, tmp_path, "duckdb", spark)
    sparked = _points(world_root, tmp_path, "spark", spark)
    assert duck, "the monitors stored nothing"
    assert set(duck) == set(sparked), {
        "only duckdb": sorted(set(duck) - set(sparked))[:5],
        "only spark": sorted(set(sparked) - set(duck))[:5],
    }
    families = {r["family"] for r in duck.values()}
    mismatches = []
    for key, a in duck.items():
        b = sparked[key]
        if a["n"] != b["n"]:
            mismatches.append((key, "n", a["n"], b["n"]))
        for column in ("value", "numerator", "denominator", "label_completeness"):
            if not _close(a[column], b[column]):
                mismatches.append((key, column, a[column], b[column]))
    assert not mismatches, mismatches[:10]
    print(f"{len(duck)} points equal on both engines; families: {sorted(families)}")
