"""Lineage of versions trained on simulated data, forward and reverse, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recops.ingest.pipeline import ingest_files
from recops.registry import lineage_of, reverse_lineage, set_alias, track_training
from recops.registry.lineage import partition_interval, partitions_match
from recops.sim import SimConfig, World, simulate
from recops.workspace import Workspace
from tests.unit.registry.helpers import folder_digest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    w = simulate(SimConfig(seed=5, days=4, requests_per_day=800, incidents=[]))
    raw = tmp_path_factory.mktemp("world")
    w.write(raw, "parquet")
    return w, raw


def covering(w: World, source: str, lo: datetime, hi: datetime) -> set[str]:
    """``source:partition`` of the world's arrivals whose span meets [lo, hi], computed from the table."""
    out = set()
    for a in w.tables["arrivals"].to_pylist():
        if a["source"] != source:
            continue
        label = a["partition"]
        start = datetime.fromisoformat(label + (":00:00+00:00" if "T" in label else "T00:00:00+00:00"))
        span = timedelta(hours=1) if "T" in label else timedelta(days=1)
        if start <= hi and start + span > lo:
            out.add(f"{source}:{label}")
    return out


def train(ws: Workspace, raw: Path, tmp: Path, version: str, outcome_files: list[Path]) -> None:
    data = tmp / f"outcomes-{version}"
    data.mkdir()
    for f in outcome_files:
        (data / f.name).write_bytes(f.read_bytes())
    artifact = tmp / f"model-{version}.bin"
    artifact.write_bytes(version.encode() * 100)
    with track_training("ranker", version=version, workspace=ws, code_path=tmp) as run:
        run.log_dataset(data, name="outcomes", time_column="ts", upstream_sources=["play_events"])
        run.log_dataset(
            raw / "feature_rows" / "user_profile", name="user_profile", role="features",
            upstream_sources=["user_profiles"],
        )  # fmt: skip
        run.log_params({"epochs": 3})
        run.log_metrics({"ndcg_at_10": 0.4})
        run.log_artifact(artifact)


def test_lineage_forward_and_reverse(
    any_workspace: Workspace, world: tuple[World, Path], tmp_path: Path
) -> None:
    w, raw = world
    ingest_files(any_workspace.lake, "arrivals", [raw / "arrivals"])
    days = sorted((raw / "outcomes").glob("*.parquet"))
    train(any_workspace, raw, tmp_path, "v13", days[:2])
    train(any_workspace, raw, tmp_path, "v14", days[2:])
    set_alias(
        any_workspace.store,
        "ranker",
        "production",
        "v13",
        at=datetime.fromisoformat("2026-10-03T00:00:00+00:00"),
    )
    set_alias(any_workspace.store, "ranker", "production", "v14")

    graph = lineage_of(any_workspace.store, "ranker", "v13")
    outcomes, profile = graph.version.datasets
    # Digest, rows and time range of the training data, each computed independently.
    copied = sorted((tmp_path / "outcomes-v13").iterdir())
    assert outcomes.digest == folder_digest(tmp_path / "outcomes-v13", copied)
    assert outcomes.rows == sum(pq.read_metadata(f).num_rows for f in days[:2])
    table = pa.concat_tables(pq.read_table(f) for f in days[:2])
    assert (outcomes.time_min, outcomes.time_max) == (
        pc.min(table["ts"]).as_py(),
        pc.max(table["ts"]).as_py(),
    )
    assert {str(p) for p in outcomes.upstream} == covering(
        w, "play_events", outcomes.time_min, outcomes.time_max
    )
    assert len(outcomes.upstream) >= 40  # two days of hourly partitions
    profile_files = sorted((raw / "feature_rows" / "user_profile").glob("*.parquet"))
    assert profile.digest == folder_digest(raw / "feature_rows" / "user_profile", profile_files)
    assert profile.time_column == "event_ts"
    assert {str(p) for p in profile.upstream} == covering(
        w, "user_profiles", profile.time_min, profile.time_max
    )
    edges = {(e.source, e.target, e.kind) for e in graph.edges}
    assert (f"dataset:{outcomes.digest}", "version:ranker@v13", "trained_on") in edges
    assert (f"partition:{outcomes.upstream[0]}", f"dataset:{outcomes.digest}", "built_from") in edges
    assert graph.aliases_now == () and [w.alias for w in graph.windows] == ["production"]
    assert lineage_of(any_workspace.store, "ranker", "v14").aliases_now == ("production",)

    # Impact analysis: an hourly partition of day 1 touches v13 only; day 3 touches v14 (serving now).
    first_hour = min(str(p) for p in outcomes.upstream)
    hit = reverse_lineage(any_workspace.store, first_hour)
    assert hit.kind == "partition" and [h.ref for h in hit.hits] == ["ranker@v13"] and hit.serving == ()
    day3 = reverse_lineage(any_workspace.store, "play_events:2026-10-03")
    assert [h.ref for h in day3.serving] == ["ranker@v14"]
    assert all(m.startswith("play_events:2026-10-03T") for h in day3.hits for m in h.matched)
    source = reverse_lineage(any_workspace.store, "user_profiles")
    assert sorted(h.ref for h in source.hits) == ["ranker@v13", "ranker@v14"]
    by_digest = reverse_lineage(any_workspace.store, outcomes.digest.removeprefix("sha256:")[:12])
    assert by_digest.kind == "dataset" and [h.ref for h in by_digest.hits] == ["ranker@v13"]
    assert reverse_lineage(any_workspace.store, "play_events:2031-01-01").hits == ()

    # The CLI face prints the same.
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "recops.cli", "lineage", *args, "-w", str(any_workspace.config.root)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    tree = cli("ranker@v13")
    assert tree.returncode == 0, tree.stderr
    assert outcomes.digest in tree.stdout and f"{outcomes.rows:,} rows" in tree.stdout
    assert "play_events:" in tree.stdout and "user_profiles:" in tree.stdout
    reverse = json.loads(cli("--reverse", "play_events:2026-10-03", "--json").stdout)
    assert reverse["serving_now"] == ["ranker@v14"]
    assert cli("--reverse", "x", "ranker@v13").returncode == 2


def test_partition_labels() -> None:
    assert partition_interval("2026-10-01T13") == (
        datetime.fromisoformat("2026-10-01T13:00:00+00:00"),
        datetime.fromisoformat("2026-10-01T14:00:00+00:00"),
    )
    assert partition_interval("2026-12")[1] == datetime.fromisoformat("2027-01-01T00:00:00+00:00")
    assert partition_interval("batch-7") is None
    assert partitions_match("2026-10-01", "2026-10-01T23") and partitions_match(
        "date=2026-10-01", "2026-10-01"
    )
    assert not partitions_match("2026-10-01", "2026-10-02T00") and partitions_match("batch-7", "batch-7")
