"""A post-mortem of a simulated incident found by the real monitors and detection pass.

The world (shared builder in test_rollback_world) carries a stale feature group; the
monitors and detection run on it, the incident is opened from the alert group they
raise, and its times are checked against the simulator's ground truth within one window
(one hour, the alerts' granularity). Impact figures are recomputed here with plain SQL.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recops.catalog import load_catalog
from recops.cli.main import build_app
from recops.detect.alerts import list_groups
from recops.detect.run import run_detection
from recops.monitors import run_monitors
from recops.respond.incidents import actions, add_action, mitigate, open_incident, resolve
from recops.respond.postmortem import postmortem
from recops.sim import World
from recops.workspace import Workspace
from tests.unit.respond.test_rollback_world import Truth, at, build

WINDOW = timedelta(hours=1)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World, Truth]:
    root = tmp_path_factory.mktemp("pm-world") / "ws"
    world, truth = build(root)
    with Workspace.open(root) as ws:
        run_monitors(ws.config, ws.lake, only=["arrival", "freshness", "drift", "metrics", "latency"])
        run_detection(ws.store, ws.config, load_catalog(ws.config.root))
    return root, world, truth


@pytest.fixture
def ws(monitored: tuple[Path, World, Truth], tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    shutil.copytree(monitored[0], root, ignore=shutil.ignore_patterns("raw"))
    w = Workspace.open(root)
    yield w
    w.close()


def _counts(ws: Workspace, lo: datetime, hi: datetime) -> tuple[int, int, int, int]:
    sql = """
    WITH r AS (SELECT request_id FROM requests WHERE ts >= $lo AND ts < $hi),
    o AS (SELECT DISTINCT request_id, item_id, event FROM outcomes
          WHERE request_id IN (SELECT request_id FROM r))
    SELECT (SELECT count(*) FROM r),
           count(*) FILTER (WHERE event = 'impression'),
           count(*) FILTER (WHERE event = 'click' AND (request_id, item_id) IN
               (SELECT (request_id, item_id) FROM o WHERE event = 'impression')),
           count(*) FILTER (WHERE event = 'play' AND (request_id, item_id) IN
               (SELECT (request_id, item_id) FROM o WHERE event = 'impression'))
    FROM o
    """
    row = ws.lake.connect().execute(sql, {"lo": lo, "hi": hi}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def test_postmortem_of_a_stale_feature_group(ws: Workspace, monitored: tuple[Path, World, Truth]) -> None:
    _, world, t = monitored
    truth = world.truth.incident("stale_feature_group")
    groups = [g for g in list_groups(ws.store) if g.cause == f"feature_group:{t.stale_group}"]
    assert groups, "detection raised no group for the stale feature group"
    group = min(groups, key=lambda g: g.first_data_time)
    inc = open_incident(ws.store, ws.lake, group_id=group.id)
    inc = mitigate(ws.store, inc.id)
    inc = resolve(ws.store, inc.id)
    assert truth.detectable_at is not None
    assert abs(inc.started_at - at(truth.start)) <= WINDOW
    assert inc.detected_at is not None and abs(inc.detected_at - at(truth.detectable_at)) <= WINDOW
    assert inc.mitigated_at is not None and abs(inc.mitigated_at - at(truth.end)) <= WINDOW
    assert inc.resolved_at is not None and abs(inc.resolved_at - at(truth.end)) <= WINDOW
    add_action(ws.store, inc.id, "alert on the materialization job of session_context", "feature-platform")

    pm = postmortem(ws.store, ws.lake, ws.config, inc.id)
    # Impact recomputed from the lake: the incident window and the same hours a day earlier.
    req, imp, clk, ply = _counts(ws, inc.started_at, inc.mitigated_at)
    b_req, b_imp, b_clk, b_ply = _counts(
        ws, inc.started_at - timedelta(days=1), inc.mitigated_at - timedelta(days=1)
    )
    d, b = pm.impact.during, pm.impact.baseline
    assert (d.requests, d.impressions, d.clicks, d.plays) == (req, imp, clk, ply)
    assert (b.requests, b.impressions, b.clicks, b.plays) == (b_req, b_imp, b_clk, b_ply)
    assert pm.impact.clicks_lost == pytest.approx(b_clk / b_imp * imp - clk)
    assert pm.impact.plays_lost == pytest.approx(b_ply / b_imp * imp - ply)
    md = pm.markdown
    assert f"| requests | {req} | {b_req} |" in md
    assert f"Clicks lost: {b_clk / b_imp * imp - clk:.1f}" in md
    # Root cause from diagnosis: the stale group first.
    assert pm.root_cause and pm.root_cause[0]["kind"] == "feature_group"
    assert pm.root_cause[0]["entity"]["feature_group"] == t.stale_group
    assert t.stale_group in md.split("## Root cause")[1].split("##")[0]
    # Timeline: start, detection, mitigation and end in the document.
    for when in (inc.detected_at, inc.mitigated_at, inc.resolved_at):
        assert when.strftime("%Y-%m-%dT%H:%M") in md
    for section in ("## Summary", "## Impact", "## Timeline", "## Detection and response",
                    "## What would have caught it earlier", "## Action items"):  # fmt: skip
        assert section in md
    assert "| alert on the materialization job of session_context | feature-platform | open |" in md


def test_cli_postmortem_writes_markdown(ws: Workspace, monitored: tuple[Path, World, Truth]) -> None:
    t = monitored[2]
    group = min(
        (g for g in list_groups(ws.store) if g.cause == f"feature_group:{t.stale_group}"),
        key=lambda g: g.first_data_time,
    )
    root = str(ws.config.root)
    runner, app = CliRunner(), build_app(["incident"])
    opened = json.loads(
        runner.invoke(app, ["incident", "open", "--group", str(group.id), "-w", root, "--json"]).output
    )
    result = runner.invoke(
        app, ["incident", "postmortem", str(opened["id"]), "--owner", "oncall", "-w", root]
    )
    assert result.exit_code == 0, result.output
    text = (Path(root) / "postmortems" / f"incident-{opened['id']}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# Post-mortem: incident {opened['id']}")
    # Never mitigated: that finding becomes an action item owned by the operator given.
    assert any(a.owner == "oncall" and "never mitigated" in a.title for a in actions(ws.store))
