"""Arrival family against the simulator's ground truth and plain DuckDB SQL on the lake."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recops.config import Config
from recops.ingest import ingest_files
from recops.monitors import read_series, run_monitors, runner
from recops.monitors.families import arrival
from recops.sim import Incident, SimConfig, World
from recops.workspace import Workspace
from tests.unit.monitors.conftest import build_world_workspace

# The UTC start of a partition named YYYY-MM-DDTHH or YYYY-MM-DD, and its close.
START = (
    "timezone('UTC', coalesce(try_strptime(partition, '%Y-%m-%dT%H'), try_strptime(partition, '%Y-%m-%d')))"
)
PERIOD = "CASE WHEN partition LIKE '%T%' THEN INTERVAL 1 HOUR ELSE INTERVAL 1 DAY END"


@pytest.fixture(scope="module")
def incident_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """Five days with a schema change on day 2 and late/missing play_events on day 4."""
    root = tmp_path_factory.mktemp("arrival-world") / "ws"
    config = SimConfig(
        seed=11,
        days=5,
        requests_per_day=2_000,
        incidents=[
            Incident("upstream_schema_change", start="2026-10-02T10:00", hours=10),
            Incident("late_arrivals", start="2026-10-04T04:00", hours=8),
        ],
    )
    return root, build_world_workspace(root, config)


@pytest.fixture
def incident_ws(incident_world: tuple[Path, World], tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    shutil.copytree(incident_world[0], root, ignore=shutil.ignore_patterns("raw"))
    ws = Workspace.open(root)
    yield ws
    ws.close()


def _learned(config: Config) -> Config:
    """The same workspace with no [sources]: every schedule is learned from history."""
    return dataclasses.replace(config, sources={})


def _start(partition: str) -> datetime:
    fmt = "%Y-%m-%dT%H" if "T" in partition else "%Y-%m-%d"
    return datetime.strptime(partition, fmt).replace(tzinfo=UTC)


def _points(ws: Workspace, metric: str, **filters: Any) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = read_series(ws.store, metric, **filters).to_pylist()
    return points


@pytest.mark.parametrize("schedule", ["configured", "learned"])
def test_late_and_missing_match_ground_truth(
    incident_ws: Workspace, incident_world: tuple[Path, World], schedule: str
) -> None:
    truth = incident_world[1].truth.incident("late_arrivals")
    assert truth is not None
    partitions, missing = truth.entity["partitions"], truth.entity["missing_partitions"]
    assert missing and len(partitions) > len(missing)
    config = incident_ws.config if schedule == "configured" else _learned(incident_ws.config)
    run_monitors(config, incident_ws.lake, only=["arrival"])

    late_hours = {
        p["window_start"]
        for p in _points(incident_ws, "late_partitions", granularity="hour", subject="play_events")
        if p["value"] > 0
    }
    missing_hours = {
        p["window_start"]
        for p in _points(incident_ws, "missing_partitions", granularity="hour", subject="play_events")
        if p["value"] > 0
    }
    assert late_hours == {_start(p) for p in partitions if p not in missing}
    assert missing_hours == {_start(p) for p in missing}
    for metric, expected in (
        ("late_partitions", len(partitions) - len(missing)),
        ("missing_partitions", len(missing)),
    ):
        for granularity in ("hour", "day"):
            total = sum(p["value"] for p in _points(incident_ws, metric, granularity=granularity))
            assert total == expected, (metric, granularity)
    # No other source is late or missing in this world (daily sources have too little
    # history in five days to learn a schedule from, so they are judged only when configured).
    for metric in ("late_partitions", "missing_partitions"):
        others = [p for p in _points(incident_ws, metric) if p["subject"] != "play_events"]
        assert all(p["value"] == 0 for p in others)
        assert bool(others) == (schedule == "configured")


def test_schema_changes_count_the_change_and_the_change_back(
    incident_ws: Workspace, incident_world: tuple[Path, World]
) -> None:
    run_monitors(incident_ws.config, incident_ws.lake, only=["arrival"])
    hours = _points(incident_ws, "schema_changes", granularity="hour")
    changed = sorted(p["window_start"] for p in hours if p["value"] > 0)
    # Hand SQL: partitions whose schema differs from the previous partition's, by start.
    con = incident_ws.lake.connect()
    rows = con.execute(
        f"""
        WITH firsts AS (
            SELECT source, partition, arg_min(schema, landed_at) AS schema
            FROM arrivals WHERE schema IS NOT NULL GROUP BY source, partition),
        ordered AS (
            SELECT source, partition, schema,
                   lag(schema) OVER (PARTITION BY source ORDER BY {START}) AS previous
            FROM firsts)
        SELECT source, partition FROM ordered
        WHERE previous IS NOT NULL AND map_entries(schema) <> map_entries(previous)
        ORDER BY source, partition
        """
    ).fetchall()
    con.close()
    assert [r[0] for r in rows] == ["play_events", "play_events"]
    assert changed == [_start(r[1]) for r in rows]
    truth = incident_world[1].truth.incident("upstream_schema_change")
    assert truth is not None
    begin = datetime.fromisoformat(truth.start.replace("Z", "+00:00"))
    end = datetime.fromisoformat(truth.end.replace("Z", "+00:00"))
    assert changed == [begin, end]  # the first changed partition and the first one back
    days = _points(incident_ws, "schema_changes", granularity="day", subject="play_events")
    assert sum(p["value"] for p in days) == 2
    assert all(p["denominator"] == p["n"] > 0 for p in days)


def _hand_rows(
    con: duckdb.DuckDBPyConnection, start: datetime, end: datetime
) -> dict[str, tuple[float, int]]:
    """Per source: rows (latest landing per partition) and partitions starting in [start, end)."""
    rows = con.execute(
        f"""
        SELECT source, sum(row_count)::DOUBLE, count(*)
        FROM (SELECT source, partition, arg_max(row_count, landed_at) AS row_count, {START} AS start
              FROM arrivals GROUP BY source, partition)
        WHERE start >= $start AND start < $end
        GROUP BY source
        """,
        {"start": start, "end": end},
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _hand_delay(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> dict[str, float]:
    """Per source: the largest first-landing delay after close, in minutes."""
    rows = con.execute(
        f"""
        SELECT source, max(epoch_us(first_landed - (start + period))) / 60e6
        FROM (SELECT source, min(landed_at) AS first_landed, any_value({START}) AS start,
                     any_value({PERIOD}) AS period
              FROM arrivals GROUP BY source, partition)
        WHERE start >= $start AND start < $end
        GROUP BY source
        """,
        {"start": start, "end": end},
    ).fetchall()
    return {r[0]: r[1] for r in rows}


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_rows_and_delay_equal_hand_sql(world_ws: Workspace, timezone: str) -> None:
    config = dataclasses.replace(world_ws.config, timezone=timezone)
    run_monitors(config, world_ws.lake, only=["arrival"])
    rows = _points(world_ws, "arrival_rows")
    assert {p["granularity"] for p in rows} == {"hour", "day"}
    assert {p["subject"] for p in rows} == {"play_events", "catalog", "user_profiles"}
    assert all(p["slice"] == "" for p in rows)
    con = world_ws.lake.connect()
    checked = 0
    for p in rows:
        hand = _hand_rows(con, p["window_start"], p["window_end"])
        value, n = hand.get(p["subject"], (0.0, 0))
        assert (p["value"], p["n"]) == (value, n), p
        checked += 1
    assert checked > 70
    for p in _points(world_ws, "arrival_delay_minutes"):
        hand_delay = _hand_delay(con, p["window_start"], p["window_end"])
        assert p["value"] == pytest.approx(hand_delay[p["subject"]], rel=1e-9), p
    con.close()
    if timezone != "UTC":
        # Day windows are local days: 04:00 UTC during New York's daylight time.
        days = _points(world_ws, "arrival_rows", granularity="day", subject="play_events")
        assert days and all(p["window_start"].hour == 4 for p in days)


def test_learned_schedule_needs_history(world_ws: Workspace) -> None:
    run_monitors(_learned(world_ws.config), world_ws.lake, only=["arrival"])
    # Daily sources have at most two landed partitions in three days: no tolerance yet.
    late = _points(world_ws, "late_partitions")
    assert {p["subject"] for p in late} == {"play_events"}
    assert _points(world_ws, "arrival_rows", subject="catalog")
    # Hourly play_events: judged from the partition whose close sees five earlier landings.
    first = min(p["window_start"] for p in late if p["granularity"] == "hour")
    con = world_ws.lake.connect()
    landed_before = con.execute(
        "SELECT count(DISTINCT partition) FROM arrivals WHERE source = 'play_events' AND landed_at < $close",
        {"close": first + timedelta(hours=1)},
    ).fetchone()
    con.close()
    assert landed_before is not None and landed_before[0] >= 5
    assert all(p["value"] == 0 for p in late)


def _ingest_arrivals(ws: Workspace, path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    ingest_files(ws.lake, "arrivals", [path])


def test_redelivery_counts_once(world_ws: Workspace, tmp_path: Path) -> None:
    """A partition landing twice: first landing for the delay, latest for the rows."""
    con = world_ws.lake.connect()
    row = con.execute(
        "SELECT partition, epoch_ms(landed_at), row_count FROM arrivals "
        "WHERE source = 'play_events' ORDER BY partition LIMIT 1 OFFSET 10"
    ).fetchone()
    con.close()
    assert row is not None
    partition, landed_ms, count = row
    again = landed_ms + 3 * 3_600_000
    _ingest_arrivals(
        world_ws,
        tmp_path / "redelivery.jsonl",
        [{"source": "play_events", "partition": partition, "landed_at": again, "row_count": count + 1000}],
    )
    run_monitors(world_ws.config, world_ws.lake, only=["arrival"])
    start = _start(partition)
    point = _points(world_ws, "arrival_rows", granularity="hour", subject="play_events", start=start)[0]
    assert point["window_start"] == start and (point["value"], point["n"]) == (count + 1000, 1)
    delay = _points(
        world_ws, "arrival_delay_minutes", granularity="hour", subject="play_events", start=start
    )[0]
    assert delay["value"] == pytest.approx((landed_ms / 1000 - (start.timestamp() + 3600)) / 60, rel=1e-9)
    late = _points(world_ws, "late_partitions", granularity="hour", subject="play_events", start=start)[0]
    assert late["value"] == 0


def test_missing_partition_turns_late_when_it_lands(
    incident_ws: Workspace, incident_world: tuple[Path, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Incrementally: the landing's batch makes its partition's window dirty again."""
    monkeypatch.setattr(runner, "families", lambda: {"arrival": arrival.FAMILY})
    truth = incident_world[1].truth.incident("late_arrivals")
    assert truth is not None
    partition = truth.entity["missing_partitions"][0]
    start = _start(partition)
    run_monitors(incident_ws.config, incident_ws.lake)
    before = _points(
        incident_ws, "missing_partitions", granularity="hour", subject="play_events", start=start
    )[0]
    assert before["window_start"] == start and before["value"] == 1
    landed = start + timedelta(hours=20)
    _ingest_arrivals(
        incident_ws,
        incident_ws.config.root / "late.jsonl",
        [{"source": "play_events", "partition": partition, "landed_at": landed.isoformat(), "row_count": 5}],
    )
    report = run_monitors(incident_ws.config, incident_ws.lake)
    assert 1 <= report.windows["hour"] < 24  # incremental, not a full recompute
    after = {
        metric: _points(incident_ws, metric, granularity="hour", subject="play_events", start=start)[0]
        for metric in ("missing_partitions", "late_partitions", "arrival_rows")
    }
    assert after["missing_partitions"]["window_start"] == start
    assert after["missing_partitions"]["value"] == 0
    assert after["late_partitions"]["value"] == 1
    assert after["arrival_rows"]["value"] == 5
