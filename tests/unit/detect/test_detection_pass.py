"""The detection pass: the plan from the catalog, alerts opened and cleared over stored
series, incremental and idempotent passes, the dead man's switch, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from recops.catalog import load_catalog
from recops.cli.main import build_app
from recops.detect.alerts import AlertSignal, Clear, list_alerts, list_groups, record_timeline
from recops.detect.deadman import check_deadman
from recops.detect.plan import default_plan
from recops.detect.run import run_detection
from recops.ingest import ingest_files
from recops.monitors.runner import beat
from recops.monitors.series import POINT_SCHEMA, replace_points
from recops.store.tables import LakeBatchRow
from recops.workspace import Workspace
from tests.records import request, write_jsonl

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def ws(tmp_path: Path, store_url: str) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    Workspace.init(root, store_url=store_url).close()
    with Workspace.open(root) as opened:
        yield opened


def _specs(ws: Workspace, metric: str) -> list[dict[str, Any]]:
    plan = default_plan(load_catalog(ws.config.root), ws.config)
    return [s.to_json() for s in plan.for_metric(metric)]


def test_the_plan_follows_the_catalog(ws: Workspace) -> None:
    ctr = _specs(ws, "ctr")
    assert {(s["detector"], s["granularity"]) for s in ctr} == {
        ("seasonal", "hour"),
        ("seasonal", "day"),
        ("cusum", "hour"),
        ("trend", "day"),
        ("slide", "hour"),
    }
    seasonal = next(s for s in ctr if s["detector"] == "seasonal")
    assert seasonal["params"]["min_relative_change"] == 0.1  # the catalog's relative_drop
    assert seasonal["params"]["direction"] == "down_is_bad" and seasonal["alarm"] == "ticket"
    trend = next(s for s in ctr if s["detector"] == "trend")
    assert trend["params"]["relative_threshold"] == 0.1 and trend["slices"] == "all traffic only"
    assert next(s for s in ctr if s["detector"] == "cusum")["params"]["min_relative_change"] == 0.1
    slide = next(s for s in ctr if s["detector"] == "slide")
    assert slide["params"]["relative_threshold"] == 0.1 and slide["slices"] == "all traffic only"
    # An SLO-valued level is judged by its burn rate and its trend, not window by window.
    p99 = _specs(ws, "latency_p99_ms")
    assert [s["detector"] for s in p99] == ["trend"]
    assert p99[0]["params"]["threshold"] == ws.config.slo["latency_p99_ms"]
    burn = _specs(ws, "error_burn_rate")
    assert [(s["detector"], s["granularity"], s["alarm"], s["warn"]) for s in burn] == [
        ("burn_rate", "serving", "page", "ticket")
    ]
    assert burn[0]["params"]["objective"] == pytest.approx(1 - ws.config.slo["error_rate"])
    late = _specs(ws, "late_partitions")
    assert {(s["detector"], s["alarm"], s["params"]["level"]) for s in late} == {("threshold", "page", 0.0)}
    requests = _specs(ws, "requests")
    assert [(s["detector"], s["params"]["direction"]) for s in requests] == [("seasonal", "down_is_bad")]
    drift = {s["detector"] for s in _specs(ws, "feature_drift_ratio")}
    assert drift == {"threshold", "drift_persistence"}
    p95 = _specs(ws, "latency_p95_ms")
    assert [(s["detector"], s["granularity"], s["params"]["min_n"]) for s in p95] == [
        ("seasonal", "hour", 400)
    ]
    assert _specs(ws, "cold_start_share") == []  # neutral, no threshold: nothing judges it


def _points(values: list[float], start: datetime = T0, subject: str = "play_events") -> pa.Table:
    rows = [
        {
            "metric": "late_partitions",
            "subject": subject,
            "slice": "",
            "granularity": "hour",
            "window_start": start + i * HOUR,
            "window_end": start + (i + 1) * HOUR,
            "family": "arrival",
            "value": v,
            "numerator": None,
            "denominator": None,
            "n": 1,
            "label_completeness": None,
        }
        for i, v in enumerate(values)
    ]
    return pa.Table.from_pylist(rows, schema=POINT_SCHEMA)


def _store(ws: Workspace, table: pa.Table) -> None:
    starts = table.column("window_start").to_pylist()
    replace_points(ws.store, "arrival", {"hour": starts}, table, engine="test")


def _detect(ws: Workspace) -> dict[str, Any]:
    return run_detection(ws.store, ws.config, load_catalog(ws.config.root), at=T0 + 1000 * HOUR).to_json()


def test_a_pass_opens_and_clears_alerts_with_data_times(ws: Workspace) -> None:
    _store(ws, _points([0, 0, 0, 2, 1, 0, 0]))
    report = _detect(ws)
    assert (report["opened"], report["resolved"]) == (1, 1)
    (alert,) = list_alerts(ws.store)
    assert alert.detector == "threshold" and alert.severity == "page" and alert.subject == "play_events"
    assert alert.data_time == T0 + 4 * HOUR  # the end of the first window past the level
    assert alert.last_data_time == T0 + 5 * HOUR  # the newest window still past it
    assert alert.resolved_data_time == T0 + 6 * HOUR  # the end of the first window back under it
    assert alert.evidence["value"] == 1 and alert.state == "resolved"

    # Nothing new: the pass judges nothing again and changes nothing, without reading a
    # series (a scheduler's idle pass costs one query, not a replay).
    again = _detect(ws)
    assert (again["opened"], again["updated"], again["resolved"]) == (0, 0, 0)
    assert again["series"] == 0 and again["judged_until"] == report["judged_until"]
    assert len(list_alerts(ws.store)) == 1

    # New windows: a new episode opens a new alert, still open at the end of the data.
    _store(ws, _points([3, 4], start=T0 + 7 * HOUR))
    later = _detect(ws)
    assert (later["opened"], later["resolved"]) == (1, 0) and later["series"] >= 1
    newest = list_alerts(ws.store)[0]
    assert newest.state == "firing" and newest.data_time == T0 + 8 * HOUR
    assert newest.last_data_time == T0 + 9 * HOUR

    # The next windows clear it.
    _store(ws, _points([0], start=T0 + 9 * HOUR))
    assert _detect(ws)["resolved"] == 1
    assert all(a.state == "resolved" for a in list_alerts(ws.store))


def test_judging_a_range_again_changes_no_alert(ws: Workspace) -> None:
    # Two episodes of one key: the first resolved, the second open at the end of the data.
    _store(ws, _points([0, 0, 0, 2, 1, 0, 0, 0, 3, 3]))
    first = _detect(ws)
    assert first["resolved"] == 1
    assert sorted(a.state for a in list_alerts(ws.store)) == ["firing", "resolved"]
    groups = len(list_groups(ws.store))
    before = {
        a.id: (a.state, a.data_time, a.last_data_time, a.resolved_data_time) for a in list_alerts(ws.store)
    }

    again = run_detection(
        ws.store, ws.config, load_catalog(ws.config.root), rejudge_from=T0, at=T0 + 2000 * HOUR
    ).to_json()
    assert (again["opened"], again["resolved"]) == (0, 0)
    after = {
        a.id: (a.state, a.data_time, a.last_data_time, a.resolved_data_time) for a in list_alerts(ws.store)
    }
    assert after == before  # the resolved episode is not reopened; the open one is not resolved early
    assert len(list_groups(ws.store)) == groups


def test_a_timeline_opens_clears_and_reopens_one_key(ws: Workspace) -> None:
    def signal(at: datetime) -> AlertSignal:
        return AlertSignal(detector="threshold", metric="late_partitions", severity="page", data_time=at)

    key = signal(T0).dedup_key()
    steps = [signal(T0), Clear(key, T0 + HOUR), signal(T0 + 5 * HOUR), Clear("no-such-key", T0)]
    signalled, resolved = record_timeline(ws.store, steps, at=T0 + 10 * HOUR)
    assert len(signalled) == 2 and len(resolved) == 1
    first, second = sorted(list_alerts(ws.store), key=lambda a: a.id)
    assert first.state == "resolved" and first.resolved_data_time == T0 + HOUR
    assert second.state == "firing" and second.data_time == T0 + 5 * HOUR


def test_the_dead_mans_switch_sees_silent_data_and_a_stopped_monitor(ws: Workspace, tmp_path: Path) -> None:
    records = [request(f"r{i}") for i in range(5)]
    ingest_files(ws.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", records)])
    now = datetime.now(UTC)
    limit = ws.config.detection.data_silence_minutes
    measured, raised, _ = check_deadman(ws.store, ws.config, at=now)
    assert [(s.subject, s.tripped) for s in measured] == [("requests", False)]  # no outcomes ever: not judged
    assert raised == []

    later = now + timedelta(minutes=limit + 5)
    measured, raised, _ = check_deadman(ws.store, ws.config, at=later)
    (silence,) = measured
    assert silence.tripped and silence.quiet_minutes == pytest.approx(limit + 5, abs=1.0)
    (alert,) = raised
    assert alert.detector == "deadman" and alert.metric == "data_silence" and alert.severity == "page"

    # Data flows again (a new batch, committed at the simulated clock): the alert resolves.
    # A check dated before the alert's own (a replayed past) would not resolve it.
    ingest_files(ws.lake, "requests", [write_jsonl(tmp_path / "r2.jsonl", [request("r-new")])])
    assert check_deadman(ws.store, ws.config, at=datetime.now(UTC))[2] == []
    with ws.store.session() as session:
        session.execute(
            update(LakeBatchRow).where(LakeBatchRow.committed_at > now).values(committed_at=later)
        )
    _, _, resolved = check_deadman(ws.store, ws.config, at=later + timedelta(minutes=1))
    assert [a.id for a in resolved] == [alert.id]

    # The monitor's heartbeat.
    beat(ws.store, at=now)
    quiet = now + timedelta(minutes=ws.config.detection.monitor_silence_minutes + 1)
    measured, raised, _ = check_deadman(ws.store, ws.config, at=quiet)
    assert {a.metric for a in raised} == {"data_silence", "monitor_silence"}


def test_cli_plan_and_deadman(ws: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    app = build_app(["alerts"])
    root = str(ws.config.root)
    result = runner.invoke(app, ["alerts", "plan", "ctr", "-w", root, "--json"])
    assert result.exit_code == 0, result.output
    assert {r["detector"] for r in json.loads(result.output)} == {"seasonal", "cusum", "trend", "slide"}
    result = runner.invoke(app, ["alerts", "plan", "no_such_metric", "-w", root])
    assert result.exit_code != 0 and "no_such_metric" in str(result.exception)

    ingest_files(ws.lake, "requests", [write_jsonl(tmp_path / "r.jsonl", [request("r1")])])
    result = runner.invoke(app, ["alerts", "deadman", "-w", root, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["tripped"] is False


def test_summaries_say_what_moved_where_and_by_how_much(ws: Workspace) -> None:
    from recops.detect.detectors import DetectorState
    from recops.detect.run import describe

    ctr = load_catalog(ws.config.root).get("ctr")

    def state(**evidence: Any) -> DetectorState:
        return DetectorState("alarm", 1.0, evidence, T0, T0)

    seasonal = describe(ctr, "", "device=tv", "hour", state(value=0.04, baseline=0.05))
    assert seasonal == "ctr in device=tv (hour) is 0.04, -20% from its baseline 0.05"
    trend = describe(ctr, "", "", "day", state(forecast={"text": "crosses 0.045 in about 9 days, 6–13"}))
    assert trend == "ctr (day) is trending: crosses 0.045 in about 9 days, 6–13"
    shift = describe(
        ctr,
        "",
        "",
        "hour",
        state(statistic={"name": "cusum", "value": 9.25}, side="down", bounds={"alarm": 8.0}),
    )
    assert shift == "ctr (hour) has stayed below its usual level: cusum 9.2 (alarm at 8.0)"


def test_a_burn_rate_summary_states_the_burn_of_the_rule_that_fires(ws: Workspace) -> None:
    from recops.detect import BurnRate, SeriesPoint, run_detector
    from recops.detect.run import describe

    burn = load_catalog(ws.config.root).get("latency_burn_rate")
    five = timedelta(minutes=5)
    bad = [10.0] * 71 + [0.0]  # six hours burning at 10x a 0.1% budget, then a clean window
    points = [
        SeriesPoint(at=T0 + (i + 1) * five, start=T0 + i * five, value=None, numerator=b, denominator=1000.0)
        for i, b in enumerate(bad)
    ]
    state = run_detector(BurnRate(), points)[-1]
    assert state.status == "alarm" and state.evidence["value"] == 0.0  # the last window had no bad
    # 1h/5m: the last 5 minutes burn 0x, so it does not fire; 6h/30m does:
    # 6h = 72 windows, 710 bad of 72,000 → 9.86x; 30m = 6 windows, 50 bad of 6,000 → 8.33x
    text = describe(burn, "", "surface=search", "5min", state)
    assert text == (
        "latency_burn_rate in surface=search (5min) burns its error budget 9.86x over 6h and 8.33x "
        "over 30m (alarm at 6x on both)"
    )
