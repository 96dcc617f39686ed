"""`recops demo` end to end on a small world: simulate, ingest, monitor, detect, summarize."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.detect.alerts import list_alerts
from recops.monitors.series import read_series
from recops.workspace import Workspace

pytestmark = pytest.mark.slow


def test_demo_ingests_monitors_and_lists_the_alerts_it_raised(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    args = [
        "demo",
        "--dir",
        str(target),
        "--days",
        "14",
        "--requests-per-day",
        "1000",
        "--no-serve",
        "--json",
    ]
    result = CliRunner().invoke(build_app(["demo"]), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert all(summary["stored"][k] == n for k, n in summary["expected"].items() if k in summary["stored"])
    with Workspace.open(target) as ws:
        stored = list_alerts(ws.store)
        assert read_series(ws.store, "requests", granularity="day").num_rows >= 14  # the monitors ran
    assert {a["id"] for a in summary["alerts"]} == {a.id for a in stored}
    times = [a["data_time"] for a in summary["alerts"]]
    assert times == sorted(times)
    assert sum(len(g["members"]) for g in summary["alert_groups"]) == len(stored)
    assert {i["kind"] for i in summary["incidents"]} >= {"stale_feature_group", "latency_regression"}
