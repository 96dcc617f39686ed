"""Drift family against ``recops.drift.compare`` on the same rows read with plain DuckDB SQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recops.drift import compare
from recops.drift.report import ColumnResult
from recops.drift.rules import INSUFFICIENT
from recops.monitors import read_series, run_monitors
from recops.monitors.families.drift import reference_days
from recops.registry import describe_dataset, register_version
from recops.sim import Incident, SimConfig, World
from recops.workspace import Workspace

from .conftest import build_world_workspace

REL = 1e-9
NUMERIC = [
    "item_ctr_7d_mean",
    "session_depth",
    "session_watch_minutes",
    "sessions_7d",
    "user_tenure_days",
    "watch_minutes_7d",
]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-12)


def _ratio(column: ColumnResult) -> float | None:
    """What feature_drift_ratio means, from compare's verdict: the largest deciding ratio."""
    if column.verdict == INSUFFICIENT:
        return None
    ratios = [
        r.value / r.threshold
        for r in column.results
        if r.deciding and r.status in ("drift", "no drift") and r.value is not None
    ]
    return max(ratios)


def _window_rows(con: Any, feature: str, start: datetime, end: datetime, where: str = "TRUE") -> pa.Table:
    """The feature's values (and slicing columns) of the requests in [start, end), by plain SQL."""
    value = f"features['{feature}']" if feature in NUMERIC else f"feature_strings['{feature}']"
    table: pa.Table = con.execute(
        f"SELECT {value} AS v, coalesce(context['device'], '(none)') AS device, surface "
        f"FROM requests WHERE ts >= ? AND ts < ? AND {where}",
        [start, end],
    ).to_arrow_table()
    return table


def _reference(
    ratios: dict[tuple[str, str, datetime], dict[str, Any]], feature: str, start: datetime
) -> list[datetime]:
    """The reference days of the window at ``start``: the days with rows of the 7 before,
    by ``reference_days`` on the stored all-traffic ratios (the world starts on day 1)."""
    first = datetime(2026, 10, 1, tzinfo=start.tzinfo)

    def drifted(i: int) -> bool:
        point = ratios.get((feature, "", first + timedelta(days=i)))
        return point is not None and point["value"] is not None and point["value"] >= 1

    window = (start - first).days
    chosen = reference_days(window, 7, lambda i: i >= 0, drifted)
    return [first + timedelta(days=i) for i in chosen]


def _points(ws: Workspace, metric: str, **filters: Any) -> dict[tuple[str, str, datetime], dict[str, Any]]:
    rows = read_series(ws.store, metric, **filters).to_pylist()
    return {(p["subject"], p["slice"], p["window_start"]): p for p in rows}


@pytest.fixture(scope="module")
def week_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Ten days at 3,000 requests a day, with a unit change of session_watch_minutes on day 9."""
    root = tmp_path_factory.mktemp("drift-world") / "ws"
    incident = Incident(
        "upstream_schema_change",
        start="2026-10-09T03:00",
        hours=18,
        params={"feature": "session_watch_minutes", "scale": 1000},
    )
    world = build_world_workspace(
        root, SimConfig(seed=3, days=10, requests_per_day=3_000, incidents=[incident])
    )
    return root, world


@pytest.fixture
def week_ws(week_world: tuple[Path, World], tmp_path: Path) -> Iterator[Workspace]:
    """A private copy of the ten-day world, monitors not run."""
    root = tmp_path / "ws"
    shutil.copytree(week_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def week_run(week_world: tuple[Path, World], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The ten-day world with the drift family run once (tests only read it)."""
    root = tmp_path_factory.mktemp("drift-run") / "ws"
    shutil.copytree(week_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    run_monitors(ws.config, ws.lake, only=["drift"])
    yield ws
    ws.close()


def test_statistics_equal_compare(week_run: Workspace) -> None:
    week_ws = week_run
    drift = _points(week_ws, "feature_drift", granularity="day")
    ratios = _points(week_ws, "feature_drift_ratio", granularity="day")
    features = {subject for subject, _, _ in drift}
    assert features == {*NUMERIC, "preferred_genre"}
    windows = sorted({start for _, _, start in drift})
    # Day 1 has no reference; every later day has one.
    assert len(windows) == 8 and windows[0].day == 2
    con = week_ws.lake.connect()
    checked_segments = 0
    excluded = 0
    for start in (windows[1], windows[6]):
        end = start + timedelta(days=1)
        for feature in sorted(features):
            # The reference: the 7 days before, without those whose own ratio crossed 1
            # (the trending item_ctr_7d_mean loses some), by the rule of reference_days.
            days = _reference(ratios, feature, start)
            excluded += 7 - len(days)
            reference = pa.concat_tables(
                _window_rows(con, feature, day, day + timedelta(days=1)) for day in days
            )
            current = _window_rows(con, feature, start, end)
            report = compare(reference, current, columns=["v"], segment="device")
            column = report.columns[0]
            point = drift[(feature, "", start)]
            assert _close(point["value"], column.statistic), (feature, start)
            assert point["n"] == current.num_rows
            assert _close(ratios[(feature, "", start)]["value"], _ratio(column))
            for segment in report.segments:
                expected = _ratio(segment.columns[0])
                assert _close(ratios[(feature, f"device={segment.value}", start)]["value"], expected)
                checked_segments += 1
    assert checked_segments >= 2 * 7 * 5
    assert excluded  # the rule did leave days out
    # Only the total carries the statistic; slices carry the ratio.
    assert {label for _, label, _ in drift} == {""}
    assert {"surface=search", "model_version=v12", "device=tv"} <= {label for _, label, _ in ratios}


def test_feature_null_rate_equal_sql(week_run: Workspace) -> None:
    week_ws = week_run
    con = week_ws.lake.connect()
    for granularity in ("day", "hour"):
        points = read_series(week_ws.store, "feature_null_rate", granularity=granularity).to_pylist()
        assert {p["subject"] for p in points} == {*NUMERIC, "preferred_genre"}
        for point in points[:: 7 if granularity == "day" else 97]:
            feature = point["subject"]
            if feature in NUMERIC:
                null = f"features['{feature}'] IS NULL OR NOT isfinite(features['{feature}'])"
            else:
                null = f"feature_strings['{feature}'] IS NULL"
            label = point["slice"]
            where = "TRUE"
            if label:
                key, v = label.split("=", 1)
                where = (
                    f"{key} = '{v}'" if key in ("surface", "model_version") else f"context['{key}'] = '{v}'"
                )
            missing, n = con.execute(
                f"SELECT count(*) FILTER (WHERE {null}), count(*) "
                f"FROM requests WHERE ts >= ? AND ts < ? AND {where}",
                [point["window_start"], point["window_end"]],
            ).fetchone()
            assert (point["numerator"], point["denominator"], point["n"]) == (missing, n, n)
            assert _close(point["value"], missing / n)
    # item_ctr_7d_mean is null where item_stats expired or the slate was empty: not always 0.
    nonzero = [
        p
        for p in read_series(week_ws.store, "feature_null_rate", granularity="day").to_pylist()
        if p["value"]
    ]
    assert nonzero


def test_unit_change_crosses_the_drift_line(week_run: Workspace, week_world: tuple[Path, World]) -> None:
    week_ws = week_run
    truth = week_world[1].truth.incident("upstream_schema_change")
    start = datetime.fromisoformat(truth.start.replace("Z", "+00:00"))
    end = datetime.fromisoformat(truth.end.replace("Z", "+00:00"))
    ratios = _points(week_ws, "feature_drift_ratio", granularity="day", slice="")
    affected = {w for (_, _, w) in ratios if w < end and w + timedelta(days=1) > start}
    assert affected
    for window in affected:
        assert ratios[("session_watch_minutes", "", window)]["value"] > 1
    # Healthy days (reference and window both before the change): nothing but the slowly
    # trending item_ctr_7d_mean (the catalog's new releases move it for real) crosses the line.
    healthy = {w for (_, _, w) in ratios if w + timedelta(days=1) <= start}
    assert len(healthy) >= 6
    for (feature, _, window), point in ratios.items():
        if window in healthy and feature != "item_ctr_7d_mean" and point["value"] is not None:
            assert point["value"] < 1, (feature, window, point["value"])
    # Per slice: the largest surface has enough requests for a verdict; at 3,000 requests a
    # day the smaller ones are "insufficient data" by the engine's noise guard (null), never
    # "no drift".
    for surface in ("home_row", "autoplay", "search"):
        sliced = _points(week_ws, "feature_drift_ratio", granularity="day", slice=f"surface={surface}")
        values = [sliced[("session_watch_minutes", f"surface={surface}", w)]["value"] for w in affected]
        assert all(v is None or v > 1 for v in values)
        if surface == "home_row":
            assert all(v is not None for v in values)


def test_training_serving_skew_equals_compare(week_ws: Workspace, tmp_path: Path) -> None:
    con = week_ws.lake.connect()
    # Training data: the first three days of v12's requests, as a Parquet file with one
    # column per feature, session_watch_minutes in hours instead of minutes (a real skew).
    train = con.execute(
        "SELECT features['sessions_7d'] AS sessions_7d, features['session_depth'] AS session_depth, "
        "features['session_watch_minutes'] / 60 AS session_watch_minutes, "
        "feature_strings['preferred_genre'] AS preferred_genre, 7 AS unrelated "
        "FROM requests WHERE model_version = 'v12' AND ts < TIMESTAMPTZ '2026-10-04 00:00:00+00'"
    ).to_arrow_table()
    path = tmp_path / "train.parquet"
    pq.write_table(train, path)
    register_version(
        week_ws.store,
        model="ranker",
        version="v12",
        artifact_uri="s3://models/ranker/v12",
        artifact_digest="sha256:" + "0" * 64,
        datasets=[describe_dataset(path, name="train", role="train")],
    )
    run_monitors(week_ws.config, week_ws.lake, only=["drift"])
    skew = _points(week_ws, "training_serving_skew", granularity="day")
    assert {label for _, label, _ in skew} == {"model_version=v12"}
    assert {subject for subject, _, _ in skew} == {
        "sessions_7d",
        "session_depth",
        "session_watch_minutes",
        "preferred_genre",
    }
    reference = pq.read_table(path)
    for (feature, _, start), point in sorted(skew.items())[::3]:
        current = _window_rows(con, feature, start, start + timedelta(days=1), "model_version = 'v12'")
        ref = reference.select([feature]).rename_columns(["v"])
        expected = compare(ref, current.select(["v"]), columns=["v"]).columns[0]
        assert point["n"] == current.num_rows
        assert _close(point["value"], _ratio(expected)), (feature, start)
    assert all(p["value"] > 1 for (f, _, _), p in skew.items() if f == "session_watch_minutes")
    assert all(p["value"] < 1 for (f, _, _), p in skew.items() if f == "sessions_7d")


def test_skew_skips_versions_whose_training_data_is_gone(world_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"sessions_7d": [1.0, 2.0, 3.0]}), path)
    register_version(
        world_ws.store,
        model="ranker",
        version="v12",
        artifact_uri="s3://models/ranker/v12",
        artifact_digest="sha256:" + "0" * 64,
        datasets=[describe_dataset(path, name="train", role="train")],
    )
    path.unlink()
    run_monitors(world_ws.config, world_ws.lake, only=["drift"])
    assert read_series(world_ws.store, "training_serving_skew").num_rows == 0
    assert read_series(world_ws.store, "feature_null_rate", granularity="day").num_rows > 0
