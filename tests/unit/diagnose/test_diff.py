"""``recops diff``: two windows or two model versions, checked against the raw simulated files.

The world (9 days × 3,000 requests a day) has a canary of a version that hurts CTR on
android_tv (v12 and v13 serve side by side for a day) and, later, an upstream unit change
that scales one feature by 1000. Lake-side numbers (CTR per slice of each version, the
candidate-source mix, latency quantiles) are recomputed here with pandas and numpy from
the Parquet files the simulator wrote, before ingest.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.diagnose.contribution import Period
from recops.diagnose.diff import diff_versions, diff_windows
from recops.errors import NotFound, RecopsError
from recops.monitors import run_monitors
from recops.monitors.series import read_series
from recops.sim import Incident, SimConfig
from recops.workspace import Workspace
from tests.unit.monitors.conftest import build_world_workspace

CANARY = Period(
    datetime.fromisoformat("2026-10-07T10:00+00:00"), datetime.fromisoformat("2026-10-08T10:00+00:00")
)
QUIET = Period(
    datetime.fromisoformat("2026-10-02T00:00+00:00"), datetime.fromisoformat("2026-10-03T00:00+00:00")
)
SCALED = Period(
    datetime.fromisoformat("2026-10-09T00:00+00:00"), datetime.fromisoformat("2026-10-10T00:00+00:00")
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diff-world") / "ws"
    incidents = [
        Incident("bad_deploy_segment", start="2026-10-07T10:00"),
        Incident("upstream_schema_change", start="2026-10-09T00:00", hours=20),
    ]
    build_world_workspace(root, SimConfig(seed=21, start="2026-10-01", days=10, requests_per_day=3_000,
                                          incidents=incidents))  # fmt: skip
    with Workspace.open(root) as ws:
        run_monitors(ws.config, ws.lake, only=["metrics"])
    return root


def _raw(world: Path, kind: str) -> pd.DataFrame:
    return pads.dataset(world / "raw" / kind, format="parquet").to_table().to_pandas()


def _side(requests: pd.DataFrame, period: Period, version: str | None = None) -> pd.DataFrame:
    mask = (requests["ts"] >= period.start) & (requests["ts"] < period.end)
    if version is not None:
        mask &= requests["model_version"] == version
    return requests[mask]


def test_versions_ctr_by_slice_equals_a_recount_of_the_raw_files(world: Path) -> None:
    with Workspace.open(world) as ws:
        report = diff_versions(ws.store, ws.lake, ws.config, "ctr", "v12", "v13", CANARY)
    assert report.metric_source == "lake"
    requests, outcomes = _raw(world, "requests"), _raw(world, "outcomes")
    outcomes = outcomes[outcomes["ts"] < CANARY.end + timedelta(days=1)]
    rows = {r["slice"]: r for r in report.metric_by_slice}
    for name, version in (("a", "v12"), ("b", "v13")):
        side = _side(requests, CANARY, version)
        side = side.assign(device=side["context"].map(lambda c: dict(c).get("device")))
        joined = outcomes.merge(side[["request_id", "device", "surface"]], on="request_id")
        for label, part in [("(all)", joined), *[(f"device={d}", g) for d, g in joined.groupby("device")]]:
            clicks = int((part["event"] == "click").sum())
            impressions = int((part["event"] == "impression").sum())
            assert rows[label][name] == pytest.approx(clicks / impressions, rel=1e-12), (label, name)
            assert rows[label][f"{name}_n"] == impressions
    assert set(rows) >= {"(all)", "surface=home_row", "device=android_tv", "country=US"}


def test_candidate_mix_and_latency_equal_the_raw_files(world: Path) -> None:
    with Workspace.open(world) as ws:
        report = diff_versions(ws.store, ws.lake, ws.config, "ctr", "v12", "v13", CANARY)
    requests = _raw(world, "requests")
    for name, version in (("a", "v12"), ("b", "v13")):
        side = _side(requests, CANARY, version)
        shown = [c["source"] for cands in side["candidates"] for c in cands if c["position"] is not None]
        counts = pd.Series(shown).value_counts()
        for row in report.candidate_mix:
            assert row[f"{name}_share"] == pytest.approx(counts.get(row["source"], 0) / len(shown), rel=1e-12)
        e2e = next(r for r in report.latency if r["stage"] == "(end to end)")
        assert e2e[f"{name}_p99_ms"] == pytest.approx(np.quantile(side["latency_ms"], 0.99), rel=1e-9)
        ranking = next(r for r in report.latency if r["stage"] == "ranking")
        stage = [
            dict(m)["ranking"] for m in side["stage_latency_ms"] if m is not None and "ranking" in dict(m)
        ]
        assert ranking[f"{name}_p50_ms"] == pytest.approx(np.quantile(stage, 0.5), rel=1e-9)
    changes = [abs(r["change"]) for r in report.candidate_mix]
    assert changes == sorted(changes, reverse=True)


def test_windows_diff_reads_stored_points_and_finds_the_scaled_feature(world: Path) -> None:
    with Workspace.open(world) as ws:
        report = diff_windows(ws.store, ws.lake, ws.config, "ctr", QUIET, SCALED)
        stored = {
            p: read_series(ws.store, "ctr", slice="", granularity="hour", start=p.start, end=p.end)
            for p in (QUIET, SCALED)
        }
    assert report.metric_source == "stored points"
    overall = next(r for r in report.metric_by_slice if r["slice"] == "(all)")
    for key, period in (("a", QUIET), ("b", SCALED)):
        points = stored[period]
        pooled = sum(points["numerator"].to_pylist()) / sum(points["denominator"].to_pylist())
        assert overall[key] == pytest.approx(pooled, rel=1e-12)
    # Explained shares of one dimension add up to the whole move (decision 0033's identity).
    surfaces = [r["explained_share"] for r in report.metric_by_slice if r["slice"].startswith("surface=")]
    assert sum(surfaces) == pytest.approx(1.0, abs=1e-9)
    verdicts = {f["feature"]: f for f in report.features}
    assert verdicts["session_watch_minutes"]["verdict"] == "drift"
    assert verdicts["session_watch_minutes"]["drift_ratio"] > 10
    assert report.features[0]["feature"] == "session_watch_minutes"  # drifted first, by ratio
    assert verdicts["user_tenure_days"]["verdict"] != "drift"


def test_a_version_that_did_not_serve_is_refused(world: Path) -> None:
    with Workspace.open(world) as ws, pytest.raises(NotFound, match="'v99' served no request"):
        diff_versions(ws.store, ws.lake, ws.config, "ctr", "v12", "v99", CANARY)


def test_stored_version_slices_for_other_metrics(world: Path) -> None:
    with Workspace.open(world) as ws:
        report = diff_versions(ws.store, ws.lake, ws.config, "play_rate", "v12", "v13", CANARY)
        other = diff_versions(ws.store, ws.lake, ws.config, "ndcg_at_10", "v12", "v13", CANARY)
        stored = read_series(ws.store, "ndcg_at_10", slice="model_version=v13", granularity="hour",
                             start=CANARY.start, end=CANARY.end)  # fmt: skip
    assert report.metric_source == "lake"
    assert other.metric_source.startswith("stored points")
    row = other.metric_by_slice[0]
    pairs = zip(stored["numerator"].to_pylist(), stored["denominator"].to_pylist(), strict=True)
    observed = [(n, d) for n, d in pairs if d]
    assert row["b"] == pytest.approx(sum(n for n, _ in observed) / sum(d for _, d in observed), rel=1e-12)
    assert row["b_n"] == sum(stored["n"].to_pylist())


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(["diff"]), list(args))
    if isinstance(result.exception, RecopsError):
        return result.exception.exit_code, result.stdout, str(result.exception)
    return result.exit_code, result.stdout, result.stderr


def test_cli_diff_versions_and_windows(world: Path) -> None:
    root = str(world)
    window = ["--from", CANARY.start.isoformat(), "--to", CANARY.end.isoformat()]
    code, out, _ = _cli("diff", "--metric", "ctr", "--a", "v12", "--b", "v13", *window, "-w", root, "--json")
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    assert data["a"]["model_version"] == "v12" and data["b"]["model_version"] == "v13"
    assert {"metric_by_slice", "candidate_mix", "features", "latency"} <= set(data)
    days = ["--a", "2026-10-02..2026-10-03", "--b", "2026-10-09..2026-10-10"]
    code, out, _ = _cli("diff", "--metric", "ctr", *days, "-w", root)
    assert code == 0, out
    assert "session_watch_minutes" in out and "candidate-source mix" in out
    code, _, message = _cli(
        "diff", "--metric", "ctr", "--a", "v12", "--b", "2026-10-02..2026-10-03", "-w", root
    )
    assert code == 2 and "both be windows" in message
    code, _, message = _cli("diff", "--metric", "ctr", "--a", "v12", "--b", "v13", "-w", root)
    assert code == 2 and "--from and --to" in message
