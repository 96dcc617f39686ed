"""Latency family against numpy on the same requests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow.compute as pc

from recops.monitors import read_series, run_monitors
from recops.monitors.quantiles import RELATIVE_ACCURACY
from recops.workspace import Workspace


def test_day_p99_is_numpy_percentile_within_the_bins_accuracy(world_ws: Workspace) -> None:
    run_monitors(world_ws.config, world_ws.lake, only=["latency"])
    points = read_series(world_ws.store, "latency_p99_ms", granularity="day", slice="", subject="")
    assert points.num_rows >= 2
    con = world_ws.lake.connect()
    for row in points.to_pylist():
        start, end = row["window_start"], row["window_end"]
        latencies = con.execute(
            "SELECT latency_ms FROM requests WHERE ts >= ? AND ts < ?", [start, end]
        ).fetchnumpy()["latency_ms"]
        assert row["n"] == len(latencies)
        exact = float(np.percentile(latencies, 99))
        assert row["value"] != exact  # read off a bin, not the exact order statistics
        assert abs(row["value"] - exact) <= RELATIVE_ACCURACY * exact


def test_stage_and_slice_points_present(world_ws: Workspace) -> None:
    run_monitors(world_ws.config, world_ws.lake, only=["latency"])
    hourly = read_series(world_ws.store, "latency_p95_ms", granularity="hour")
    subjects = set(hourly["subject"].to_pylist())
    assert {"", "ranking", "feature_fetch", "candidate_generation"} <= subjects
    slices = set(hourly["slice"].to_pylist())
    assert {"", "surface=home_row", "device=tv"} <= slices
    # 5-minute windows are sliced by surface and model version only, end to end only.
    short = read_series(world_ws.store, "latency_p99_ms", granularity="5min")
    assert set(short["subject"].to_pylist()) == {""}
    assert not any(s.startswith("device=") for s in short["slice"].to_pylist())
    burn = read_series(world_ws.store, "latency_burn_rate", granularity="day", slice="")
    share = read_series(world_ws.store, "latency_slo_bad_share", granularity="day", slice="", subject="")
    assert pc.all(pc.equal(pc.round(pc.divide(share["value"], burn["value"]), 9), 0.01)).as_py()
    assert datetime(2026, 1, 1, tzinfo=UTC) < burn["window_start"][0].as_py()


def test_stage_slow_counts_equal_numpy(world_ws: Workspace) -> None:
    """The evidence a stage's p99 crossing needs: per stage and day, the timings past the
    SLO target over the timings, counted again with numpy."""
    run_monitors(world_ws.config, world_ws.lake, only=["latency"])
    target = world_ws.config.slo.get("latency_p99_ms", 250.0)
    points = read_series(world_ws.store, "latency_slo_bad_share", granularity="day", slice="")
    stages = [p for p in points.to_pylist() if p["subject"]]
    assert {"ranking", "feature_fetch", "candidate_generation"} <= {p["subject"] for p in stages}
    con = world_ws.lake.connect()
    for row in stages:
        timings = con.execute(
            "SELECT stage_latency_ms[$stage] AS t FROM requests"
            " WHERE ts >= $start AND ts < $end AND stage_latency_ms[$stage] IS NOT NULL",
            {"stage": row["subject"], "start": row["window_start"], "end": row["window_end"]},
        ).fetchnumpy()["t"]
        assert row["denominator"] == len(timings)
        assert row["numerator"] == int(np.sum(timings > target))
        assert row["value"] == row["numerator"] / row["denominator"]
