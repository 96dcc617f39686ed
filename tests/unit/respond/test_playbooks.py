"""Playbooks: built-ins, overrides, tradeoff tables recomputed from the lake, runs."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.errors import ConfigError, InvalidInput
from recops.registry.aliases import resolve_alias
from recops.respond.incidents import open_incident
from recops.respond.playbooks import get_playbook, load_playbooks, runs
from recops.respond.timeline import timeline
from recops.sim import World
from recops.workspace import Workspace
from tests.unit.respond.test_rollback_world import Truth, bad_deploy_world, bad_ws

__all__ = ["bad_deploy_world", "bad_ws"]

BUILTINS = {
    "bad-deploy", "stale-feature-group", "upstream-schema-change", "candidate-source-outage",
    "latency-regression", "late-data",
}  # fmt: skip

# Independent of recops.respond: clicks and plays per impressed (request, item) pair, per request.
RATES = """
WITH r AS (SELECT request_id, latency_ms FROM requests WHERE {where}),
imp AS (SELECT DISTINCT o.request_id, o.item_id FROM outcomes o SEMI JOIN r ON o.request_id = r.request_id
        WHERE o.event = 'impression'),
clk AS (SELECT DISTINCT request_id, item_id FROM outcomes WHERE event = 'click'),
ply AS (SELECT DISTINCT request_id, item_id FROM outcomes WHERE event = 'play')
SELECT request_id, count(*) AS n,
       count(*) FILTER (WHERE (request_id, item_id) IN (SELECT (request_id, item_id) FROM clk)) AS clicks,
       count(*) FILTER (WHERE (request_id, item_id) IN (SELECT (request_id, item_id) FROM ply)) AS plays
FROM imp GROUP BY request_id
"""
LATENCY = "SELECT median(latency_ms) FROM requests WHERE {where}"


def _lake(
    ws: Workspace, where: str, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    con = ws.lake.connect()
    per = con.execute(RATES.format(where=where), params).fetchnumpy()
    row = con.execute(LATENCY.format(where=where), params).fetchone()
    assert row is not None
    return per["n"].astype(float), per["clicks"].astype(float), per["plays"].astype(float), float(row[0])


def _clustered_ci(k: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """95% interval of sum(k)/sum(n) with requests as units, by hand:
    Var = R/(R-1) * sum((k - p n)^2) / sum(n)^2 over the R requests."""
    p = k.sum() / n.sum()
    var = len(n) / (len(n) - 1) * float(((k - p * n) ** 2).sum()) / n.sum() ** 2
    half = 1.959963984540054 * math.sqrt(var)
    return max(0.0, p - half), min(1.0, p + half)


def _check(side: dict[str, Any], expected: tuple[np.ndarray, np.ndarray, np.ndarray, float]) -> None:
    n, clicks, plays, latency = expected
    assert side["impressions"] == n.sum()
    for metric, k in (("ctr", clicks), ("play_rate", plays)):
        assert side[metric]["value"] == pytest.approx(k.sum() / n.sum(), rel=1e-12)
        assert side[metric]["ci95"] == pytest.approx(list(_clustered_ci(k, n)), rel=1e-9)
    assert side["latency_p50_ms"] == pytest.approx(latency)


def _show(ws: Workspace, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        build_app(["playbook"]), ["playbook", "show", *args, "-w", str(ws.config.root), "--json"]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def _lake_end(ws: Workspace) -> datetime:
    row = ws.lake.connect().execute("SELECT epoch_us(max(ts)) FROM requests").fetchone()
    assert row is not None
    return datetime.fromtimestamp(row[0] / 1e6, tz=datetime.now().astimezone().tzinfo) + timedelta(
        microseconds=1
    )


def test_builtins_and_workspace_override(tmp_path: Path) -> None:
    assert BUILTINS <= set(load_playbooks(None))
    assert get_playbook(None, "model_version").name == "bad-deploy"  # found by symptom
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "bad-deploy.yaml").write_text(
        "name: bad-deploy\ntitle: ours\n"
        "steps: [{title: roll back, run: 'recops rollback {model}', minutes: 3}]\n"
    )
    ours = get_playbook(tmp_path, "bad-deploy")
    assert (ours.title, ours.planned_minutes, ours.origin.endswith("bad-deploy.yaml")) == ("ours", 3.0, True)
    (tmp_path / "playbooks" / "bad.yaml").write_text("name: x\noptions: [{name: a, kind: pray}]\n")
    with pytest.raises(ConfigError):
        load_playbooks(tmp_path)


def test_bad_deploy_tradeoffs_match_the_lake(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = bad_deploy_world[2]
    data = _show(bad_ws, "bad-deploy")
    by = {row["option"]: row for row in data["tradeoffs"]}
    end = _lake_end(bad_ws)
    # Rollback: v12 over its last production window vs v13 since its deploy.
    rb = by["rollback"]
    version_where = "model_version = $v AND ts >= $lo AND ts < $hi"
    _check(
        rb["with_option"],
        _lake(bad_ws, version_where, {"v": t.good, "lo": t.good_deployed, "hi": t.deployed}),
    )
    _check(rb["now"], _lake(bad_ws, version_where, {"v": t.bad, "lo": t.deployed, "hi": end}))
    assert rb["ctr_change"] == pytest.approx(rb["with_option"]["ctr"]["value"] - rb["now"]["ctr"]["value"])
    assert rb["minutes_planned"] == sum(s["minutes"] for s in data["steps"])
    # Fallback: fallback-served vs model-served requests over the last 7 days of the lake.
    fb = by["fallback"]
    status_where = "status = $s AND ts >= $lo AND ts < $hi"
    window = {"lo": end - timedelta(days=7), "hi": end}
    _check(fb["now"], _lake(bad_ws, status_where, {"s": "ok", **window}))
    _check(fb["with_option"], _lake(bad_ws, status_where, {"s": "fallback", **window}))
    assert "personalization" in fb["loses"]


def test_stale_feature_tradeoffs_match_the_lake(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = bad_deploy_world[2]
    with pytest.raises(AssertionError):
        _show(bad_ws, "stale-feature-group")  # the stale_vs_fresh option needs the group
    data = _show(bad_ws, "stale-feature-group", "--param", f"group={t.stale_group}")
    row = {r["option"]: r for r in data["tradeoffs"]}["wait-for-repair"]
    ttl = bad_ws.config.feature_groups[t.stale_group].ttl_hours
    end = _lake_end(bad_ws)
    age_s = "date_diff('second', element_at(feature_ts, $g)[1], ts)"
    base = f"ts >= $lo AND ts < $hi AND element_at(feature_ts, $g)[1] IS NOT NULL AND {age_s}"
    p = {"g": t.stale_group, "lo": end - timedelta(days=7), "hi": end, "ttl": ttl * 3600}
    stale, fresh = _lake(bad_ws, base + " > $ttl", p), _lake(bad_ws, base + " <= $ttl", p)
    assert stale[0].sum() > 0 and fresh[0].sum() > 0
    _check(row["now"], stale)
    _check(row["with_option"], fresh)


def test_dry_run_changes_nothing_and_a_run_rolls_back(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = bad_deploy_world[2]
    root = str(bad_ws.config.root)
    app, runner = build_app(["playbook"]), CliRunner()
    args = ["-p", f"model={t.model}", "-p", "reason=ctr drop", "-p", "alert=1", "-p", "group=1"]
    dry = runner.invoke(app, ["playbook", "run", "bad-deploy", "--dry-run", *args, "-w", root, "--json"])
    assert dry.exit_code == 0, dry.output
    steps = json.loads(dry.output)["steps"]
    assert [s["command"] for s in steps][2] == f'recops rollback {t.model} --reason "ctr drop"'
    assert all(s["action"] == "run" for s in steps)
    assert resolve_alias(bad_ws.store, t.model, "production")[0] == t.bad  # nothing moved
    with pytest.raises(InvalidInput):
        get_playbook(None, "bad-deploy").steps[2].command({})

    (Path(root) / "playbooks").mkdir()
    (Path(root) / "playbooks" / "quick.yaml").write_text(
        "name: quick-rollback\nsteps:\n"
        "  - {title: roll back, run: 'recops rollback {model} --reason \"{reason}\"', minutes: 1}\n"
        "  - {title: tell the team, minutes: 2}\n"
    )
    unknown = runner.invoke(
        app, ["playbook", "run", "quick-rollback", *args, "--incident", "999", "-w", root]
    )
    assert unknown.exit_code != 0 and str(unknown.exception) == "no incident 999"
    assert resolve_alias(bad_ws.store, t.model, "production")[0] == t.bad  # no step ran
    inc = open_incident(bad_ws.store, bad_ws.lake, title="bad deploy", started_at=t.deployed)
    real = runner.invoke(
        app, ["playbook", "run", "quick-rollback", *args, "--incident", str(inc.id), "-w", root]
    )
    assert real.exit_code == 0, real.output
    assert resolve_alias(bad_ws.store, t.model, "production")[0] == t.good
    recorded = runs(bad_ws.store)
    assert [(r["playbook"], r["dry_run"], r["ok"]) for r in recorded] == [
        ("bad-deploy", True, True), ("quick-rollback", False, True)
    ]  # fmt: skip
    assert recorded[1]["steps"][1]["outcome"].startswith("manual")
    texts = [e.text for e in timeline(bad_ws.store, bad_ws.lake, inc)]
    assert "playbook quick-rollback (ok)" in texts


def test_show_prints_the_table(bad_ws: Workspace) -> None:
    data = _show(bad_ws, "bad-deploy")
    result = CliRunner().invoke(
        build_app(["playbook"]),
        ["playbook", "show", "bad-deploy", "-w", str(bad_ws.config.root)],
        terminal_width=250,
    )
    assert result.exit_code == 0, result.output
    assert "hotfix options" in result.output
    rollback_ctr = data["tradeoffs"][0]["with_option"]["ctr"]["value"]
    assert f"{100 * rollback_ctr:.2f}%" in result.output
