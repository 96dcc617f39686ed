"""A bad-deploy incident end to end: open, roll back, mitigate, timeline, impact, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.detect.alerts import AlertSignal, acknowledge, record_signals
from recops.errors import InvalidInput
from recops.respond.impact import impact
from recops.respond.incidents import (
    actions,
    add_action,
    close_action,
    get_incident,
    list_incidents,
    mitigate,
    open_incident,
    resolve,
)
from recops.respond.rollback import rollback
from recops.respond.timeline import timeline
from recops.sim import World
from recops.workspace import Workspace
from tests.unit.respond.test_rollback_world import Truth, bad_deploy_world, bad_ws, build

__all__ = ["bad_deploy_world", "bad_ws"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def incident_ws(
    request: pytest.FixtureRequest, bad_deploy_world: tuple[Path, World, Truth], tmp_path: Path
) -> Iterator[Workspace]:
    """The bad-deploy workspace with its store on SQLite (a copy) or on the real PostgreSQL
    (the same seeded world built into a fresh schema)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("bad_ws")
        return
    url = str(request.getfixturevalue("pg_schema_url"))
    _, truth = build(tmp_path / "pg", store_url=url)
    assert truth == bad_deploy_world[2]  # deterministic by seed: the same ground truth
    with Workspace.open(tmp_path / "pg") as ws:
        yield ws


SQL = """
WITH r AS (SELECT request_id FROM requests
           WHERE ts >= $lo AND ts < $hi AND ($v IS NULL OR model_version = $v)),
i AS (SELECT DISTINCT o.request_id, o.item_id FROM outcomes o WHERE event = 'impression'
      AND request_id IN (SELECT request_id FROM r)),
c AS (SELECT DISTINCT request_id, item_id FROM outcomes WHERE event = 'click')
SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM i),
       (SELECT count(*) FROM i WHERE (request_id, item_id) IN (SELECT (request_id, item_id) FROM c))
"""


def _lake_counts(ws: Workspace, lo: datetime, hi: datetime, version: str | None) -> tuple[int, int, int]:
    con = ws.lake.connect()
    row = con.execute(SQL, {"lo": lo, "hi": hi, "v": version}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _alert(ws: Workspace, version: str, when: datetime) -> int:
    signal = AlertSignal(
        detector="threshold", metric="ctr", severity="page", data_time=when,
        slice=f"model_version={version}", granularity="hour", summary=f"ctr fell for {version}",
    )  # fmt: skip
    return record_signals(ws.store, [signal])[0].id


def test_bad_deploy_incident_timeline_and_impact(
    incident_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    bad_ws = incident_ws
    t = bad_deploy_world[2]
    detected = t.deployed + timedelta(hours=2)
    alert_id = _alert(bad_ws, t.bad, detected)
    acknowledge(bad_ws.store, alert_id, actor="oncall", at=detected + timedelta(minutes=20))
    inc = open_incident(
        bad_ws.store,
        bad_ws.lake,
        title="ctr drop after deploy",
        cause=f"model_version:{t.bad}",
        detected_at=detected,
    )
    # Start: the bad version's first change (its canary), found in the lake; the model from it.
    assert (inc.started_at, inc.detected_at, inc.model) == (t.canary_start, detected, t.model)
    rollback(bad_ws.store, bad_ws.lake, t.model, reason="ctr drop after deploy", at=t.rolled_back)
    inc = mitigate(bad_ws.store, inc.id)  # time inferred: the alias move away from the bad version
    assert inc.mitigated_at == t.rolled_back
    assert inc.time_to_detect() == detected - t.canary_start
    assert inc.time_to_mitigate() == t.rolled_back - detected
    with pytest.raises(InvalidInput):
        mitigate(bad_ws.store, inc.id)
    with pytest.raises(InvalidInput, match="before the start"):
        open_incident(
            bad_ws.store,
            bad_ws.lake,
            title="t",
            started_at=t.canary_start,
            detected_at=t.canary_start - timedelta(hours=1),
        )
    inc = resolve(bad_ws.store, inc.id, at=t.rolled_back + timedelta(hours=1))

    texts = [(e.kind, e.text) for e in timeline(bad_ws.store, bad_ws.lake, inc)]
    kinds_in_order = [k for k, _ in texts]
    expected = [
        ("change", f"change canary: {t.model}@{t.bad}"),
        ("alias", f"{t.model}:canary -> {t.bad}"),
        ("change", f"change deploy: {t.model}@{t.bad}"),
        ("alias", f"{t.model}:production -> {t.bad}"),
        ("alert", "raised: [page] ctr fell"),
        ("incident", "incident opened"),
        ("change", f"change rollback: {t.model}@{t.good}"),  # same instant as the move: changes first
        ("alias", f"{t.model}:production -> {t.good}: ctr drop after deploy"),
        ("incident", "incident mitigated"),
        ("incident", "incident resolved"),
    ]
    positions = []
    for kind, fragment in expected:
        hits = [i for i, (k, text) in enumerate(texts) if k == kind and fragment in text]
        assert hits, f"no {kind} entry with {fragment!r} in {texts}"
        positions.append(hits[0])
    assert positions == sorted(positions), texts
    assert "gate" in kinds_in_order  # the bad version's gate result
    acks = [e for e in timeline(bad_ws.store, bad_ws.lake, inc) if "acknowledged" in e.text]
    assert [e.actor for e in acks] == ["oncall"]

    # Impact: the bad version's requests from its canary to the rollback, recomputed in SQL.
    imp = impact(bad_ws.lake, inc)
    requests, impressions, clicks = _lake_counts(bad_ws, t.canary_start, t.rolled_back, t.bad)
    assert (imp.during.requests, imp.during.impressions, imp.during.clicks) == (requests, impressions, clicks)
    day = timedelta(days=1)
    b_req, b_imp, b_clk = _lake_counts(bad_ws, t.canary_start - day, t.rolled_back - day, None)
    assert (imp.baseline.requests, imp.baseline.impressions, imp.baseline.clicks) == (b_req, b_imp, b_clk)
    assert imp.clicks_lost == pytest.approx(b_clk / b_imp * impressions - clicks)
    assert imp.duration_s == (t.rolled_back - t.canary_start).total_seconds()


def test_an_open_incident_lasts_until_the_newest_request(
    incident_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = bad_deploy_world[2]
    inc = open_incident(
        incident_ws.store,
        incident_ws.lake,
        title="still open",
        cause=f"model_version:{t.bad}",
        detected_at=t.deployed + timedelta(hours=2),
    )
    imp = impact(incident_ws.lake, inc)
    con = incident_ws.lake.connect()
    try:
        (after,) = con.execute("SELECT count(*) FROM requests WHERE ts >= ?", [imp.end]).fetchone() or (None,)
        last = imp.end - timedelta(microseconds=1)
        (newest,) = con.execute("SELECT count(*) FROM requests WHERE ts >= ?", [last]).fetchone() or (None,)
    finally:
        con.close()
    assert (after, newest) == (0, 1)  # the window ends just after the newest request, not now
    assert imp.during.requests > 0


def test_actions_are_tracked_until_closed(
    incident_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    bad_ws = incident_ws
    t = bad_deploy_world[2]
    inc = open_incident(bad_ws.store, bad_ws.lake, title="by hand", started_at=t.deployed)
    a = add_action(bad_ws.store, inc.id, "gate CTR per device", "ml-platform")
    assert [x.id for x in actions(bad_ws.store, state="open")] == [a.id]
    close_action(bad_ws.store, a.id)
    assert actions(bad_ws.store, state="open") == []
    with pytest.raises(InvalidInput):
        close_action(bad_ws.store, a.id)
    with pytest.raises(InvalidInput):
        open_incident(bad_ws.store, bad_ws.lake, title="no time")
    assert [i.id for i in list_incidents(bad_ws.store, state="active")] == [inc.id]


def test_cli_incident_flow(bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]) -> None:
    t = bad_deploy_world[2]
    root = str(bad_ws.config.root)
    app = build_app(["incident"])
    runner = CliRunner()

    def run(*args: str) -> dict[str, object]:
        result = runner.invoke(app, ["incident", *args, "-w", root, "--json"])
        assert result.exit_code == 0, result.output
        data: dict[str, object] = json.loads(result.output)
        return data

    opened = run(
        "open",
        "--title",
        "bad deploy",
        "--cause",
        f"model_version:{t.bad}",
        "--detected",
        t.deployed.isoformat(),
    )
    ident = str(opened["id"])
    assert opened["started_at"] == t.canary_start.isoformat().replace("+00:00", ".000000Z")
    action = run("action", "add", ident, "--title", "gate CTR per device", "--owner", "ml-platform")
    listed = run("list")
    assert [a["id"] for a in listed["open_actions"]] == [action["id"]]  # type: ignore[index,union-attr]
    run("mitigate", ident, "--at", t.rolled_back.isoformat())
    shown = run("show", ident)
    assert shown["state"] == "mitigated"
    assert any("incident mitigated" in e["text"] for e in shown["timeline"])  # type: ignore[attr-defined,index]
    run("action", "close", str(action["id"]))
    assert run("list")["open_actions"] == []
    assert get_incident(bad_ws.store, int(ident)).mitigated_at == t.rolled_back
