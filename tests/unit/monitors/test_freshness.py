"""Freshness family against hand-written DuckDB SQL on the lake, and on a stale-group incident."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recops.monitors import read_series, run_monitors
from recops.monitors.families import freshness
from recops.monitors.quantiles import RELATIVE_ACCURACY
from recops.sim import Incident, SimConfig, World
from recops.workspace import Workspace

from .conftest import build_world_workspace

REL = 1e-9


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-12)


def _points(ws: Workspace, metric: str, **filters: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = read_series(ws.store, metric, **filters).to_pylist()
    return rows


def _slice_sql(label: str) -> str:
    if not label:
        return "TRUE"
    key, value = label.split("=", 1)
    column = key if key in ("surface", "model_version") else f"context['{key}']"
    return f"{column} = '{value}'"


@pytest.fixture(scope="module")
def fresh_run(
    small_world: tuple[Path, World], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """The small world with the freshness family run once (tests only read it)."""
    root = tmp_path_factory.mktemp("freshness-run") / "ws"
    shutil.copytree(small_world[0], root, ignore=shutil.ignore_patterns("raw"))
    # A TTL as long as item_stats' 6-hour cadence, so some requests are served stale and
    # the stale numerator is exercised (the default, 12 h, matches the simulator's TTL).
    config = root / "recops.toml"
    text = config.read_text()
    config.write_text(
        text.replace(
            "[feature_groups.item_stats]\nttl_hours = 12", "[feature_groups.item_stats]\nttl_hours = 6"
        )
    )
    ws = Workspace.open(root)
    assert ws.config.feature_groups["item_stats"].ttl_hours == 6
    run_monitors(ws.config, ws.lake, only=["freshness"])
    yield ws
    ws.close()


def test_request_metrics_equal_sql(fresh_run: Workspace) -> None:
    world_ws = fresh_run
    con = world_ws.lake.connect()
    ttls = {g: c.ttl_hours for g, c in world_ws.config.feature_groups.items()}
    checked = {"age": 0, "stale": 0, "stale_nonzero": 0}
    for granularity, slices in (("day", ("", "device=tv", "surface=search")), ("hour", ("",))):
        ages = _points(world_ws, "feature_age_p95_hours", granularity=granularity)
        stale = {
            (p["subject"], p["slice"], p["window_start"]): p
            for p in _points(world_ws, "stale_feature_share", granularity=granularity)
        }
        assert {p["subject"] for p in ages} == set(ttls)
        for point in ages:
            if point["slice"] not in slices or (granularity == "hour" and point["window_start"].hour % 7):
                continue
            group, start, end = point["subject"], point["window_start"], point["window_end"]
            where = f"ts >= ? AND ts < ? AND {_slice_sql(point['slice'])}"
            p95, n_age = con.execute(
                f"SELECT quantile_cont(epoch(ts - feature_ts['{group}']) / 3600, 0.95), "
                f"count(feature_ts['{group}']) FROM requests WHERE {where}",
                [start, end],
            ).fetchone()
            assert point["n"] == n_age
            # read off log-spaced bins: within their relative accuracy of the exact quantile
            assert abs(point["value"] - p95) <= RELATIVE_ACCURACY * abs(p95) + 1e-12
            checked["age"] += 1
            stale_n, looked = con.execute(
                f"SELECT count(*) FILTER (WHERE feature_ts['{group}'] IS NULL "
                f"  OR ts - feature_ts['{group}'] > {ttls[group]} * INTERVAL 1 HOUR), count(*) "
                f"FROM requests WHERE {where} AND map_contains(feature_ts, '{group}')",
                [start, end],
            ).fetchone()
            share = stale[(group, point["slice"], start)]
            assert (share["numerator"], share["denominator"], share["n"]) == (stale_n, looked, looked)
            assert _close(share["value"], stale_n / looked)
            checked["stale"] += 1
            checked["stale_nonzero"] += stale_n > 0
    # item_stats runs every 6 h and its configured TTL is 6 h: some requests are stale.
    assert checked["age"] >= 20 and checked["stale"] >= 20 and checked["stale_nonzero"] >= 2


def test_materialization_metrics_equal_sql(fresh_run: Workspace) -> None:
    world_ws = fresh_run
    con = world_ws.lake.connect()
    for granularity in ("day", "hour"):
        lags = _points(world_ws, "materialization_lag_p95_minutes", granularity=granularity)
        since = _points(world_ws, "hours_since_materialization", granularity=granularity)
        assert {p["slice"] for p in lags + since} == {""}
        assert {p["subject"] for p in lags} == {"user_profile", "item_stats", "session_context"}
        for point in lags:
            p95, n = con.execute(
                "SELECT quantile_cont(epoch(materialized_at - event_ts) / 60, 0.95), count(*) "
                "FROM feature_rows WHERE feature_group = ? AND materialized_at >= ? AND materialized_at < ?",
                [point["subject"], point["window_start"], point["window_end"]],
            ).fetchone()
            assert point["n"] == n
            assert _close(point["value"], p95)
        expected = _since_sql(con, granularity, since)
        assert len(since) == len(expected) > 0
        for point in since:
            assert _close(point["value"], expected[(point["subject"], point["window_start"])])


def _since_sql(con: Any, granularity: str, points: list[dict[str, Any]]) -> dict[tuple[str, datetime], float]:
    out = {}
    for point in points:
        (hours,) = con.execute(
            "SELECT epoch(?::TIMESTAMPTZ - max(event_ts)) / 3600 FROM feature_rows "
            "WHERE feature_group = ? AND materialized_at < ?",
            [point["window_end"], point["subject"], point["window_end"]],
        ).fetchone()
        out[(point["subject"], point["window_start"])] = hours
    return out


def test_learned_ttl_for_groups_without_one(world_ws: Workspace) -> None:
    groups = dict(world_ws.config.feature_groups)
    del groups["session_context"]
    config = dataclasses.replace(world_ws.config, feature_groups=groups)
    run_monitors(config, world_ws.lake, only=["freshness"])
    con = world_ws.lake.connect()
    # session_context runs hourly: the learned TTL is 3 × 1 h.
    (median_gap,) = con.execute(
        "SELECT median(gap) FROM (SELECT epoch(run - lag(run) OVER (ORDER BY run)) / 3600 AS gap "
        "FROM (SELECT DISTINCT date_trunc('minute', event_ts) AS run FROM feature_rows "
        "      WHERE feature_group = 'session_context'))"
    ).fetchone()
    assert median_gap == 1.0
    points = _points(world_ws, "stale_feature_share", granularity="hour", subject="session_context", slice="")
    assert len(points) > 40
    for point in points[::5]:
        (stale,) = con.execute(
            "SELECT count(*) FILTER (WHERE ts - feature_ts['session_context'] > INTERVAL 3 HOUR) "
            "FROM requests WHERE ts >= ? AND ts < ?",
            [point["window_start"], point["window_end"]],
        ).fetchone()
        assert point["numerator"] == stale


# --- a stopped pipeline --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stale_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    root = tmp_path_factory.mktemp("stale-world") / "ws"
    incident = Incident(
        "stale_feature_group", start="2026-10-02T06:00", hours=10, params={"group": "session_context"}
    )
    world = build_world_workspace(
        root, SimConfig(seed=5, days=3, requests_per_day=3_000, incidents=[incident])
    )
    return root, world


@pytest.fixture
def stale_ws(stale_world: tuple[Path, World], tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    shutil.copytree(stale_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    yield ws
    ws.close()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_stale_group_incident_crosses_threshold(stale_ws: Workspace, stale_world: tuple[Path, World]) -> None:
    run_monitors(stale_ws.config, stale_ws.lake, only=["freshness"])
    truth = stale_world[1].truth.incident("stale_feature_group")
    assert truth.detectable_at is not None
    start, detectable, end = _utc(truth.start), _utc(truth.detectable_at), _utc(truth.end)
    hourly = _points(stale_ws, "stale_feature_share", granularity="hour", subject="session_context", slice="")
    inside = [p for p in hourly if p["window_start"] >= detectable and p["window_end"] <= end]
    healthy = [p for p in hourly if p["window_end"] <= start or p["window_start"] >= end + timedelta(hours=2)]
    assert len(inside) >= 4 and len(healthy) >= 40
    assert all(p["value"] > 0.05 for p in inside)
    assert max(p["value"] for p in healthy) < 0.01
    daily = _points(stale_ws, "stale_feature_share", granularity="day", subject="session_context", slice="")
    by_day = {p["window_start"].date(): p["value"] for p in daily}
    assert by_day[start.date()] > 0.05
    assert all(v < 0.01 for d, v in by_day.items() if d != start.date())
    # Other groups are unaffected.
    others = _points(stale_ws, "stale_feature_share", granularity="hour", subject="user_profile", slice="")
    assert max(p["value"] for p in others) < 0.01
    # The newest materialized run keeps ageing while the group is stopped.
    since = {
        p["window_start"]: p["value"]
        for p in _points(
            stale_ws, "hours_since_materialization", granularity="hour", subject="session_context"
        )
    }
    stopped = [since[w] for w in sorted(since) if detectable <= w < end - timedelta(hours=1)]
    assert stopped == sorted(stopped) and stopped[-1] > 8


def test_hours_since_materialization_looks_back_past_the_plan(
    stale_ws: Workspace, stale_world: tuple[Path, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows planned inside the stop, with a look-back shorter than the stop: the whole history is read."""
    truth = stale_world[1].truth.incident("stale_feature_group")
    start, end = _utc(truth.start), _utc(truth.end)
    monkeypatch.setattr(freshness, "LOOKBACK", timedelta(hours=1))
    plan_start = start + timedelta(hours=5)
    run_monitors(stale_ws.config, stale_ws.lake, start=plan_start, end=end, only=["freshness"])
    points = _points(
        stale_ws,
        "hours_since_materialization",
        granularity="hour",
        subject="session_context",
        start=plan_start,
        end=end,
    )
    assert points[0]["window_start"] == plan_start and len(points) == 5
    expected = _since_sql(stale_ws.lake.connect(), "hour", points)
    for point in points:
        assert _close(point["value"], expected[(point["subject"], point["window_start"])])
    assert points[0]["value"] > 5
