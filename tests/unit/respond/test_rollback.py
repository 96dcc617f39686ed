"""Rollback after a simulated bad deploy: target choice, alias move, audit and change record."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.detect.alerts import AlertSignal, record_signals
from recops.errors import InvalidInput, NotFound
from recops.registry import audit
from recops.registry.aliases import alias_history, resolve_alias
from recops.registry.versions import record_validation, register_version
from recops.respond.rollback import candidates, choose_target, rollback
from recops.sim import World
from recops.workspace import Workspace
from tests.unit.respond.test_rollback_world import Truth, bad_deploy_world, bad_ws

__all__ = ["bad_deploy_world", "bad_ws"]


def _truth(world: tuple[Path, World, Truth]) -> Truth:
    return world[2]


def _alert(ws: Workspace, version: str, when: object, metric: str = "ctr") -> int:
    signal = AlertSignal(
        detector="threshold",
        metric=metric,
        severity="page",
        data_time=when,  # type: ignore[arg-type]
        slice=f"model_version={version}",
        granularity="hour",
        summary=f"{metric} fell for {version}",
    )
    return record_signals(ws.store, [signal])[0].id


def test_rollback_restores_the_prior_version_with_audit_and_change(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = _truth(bad_deploy_world)
    alert_id = _alert(bad_ws, t.bad, t.deployed + timedelta(hours=2))
    assert resolve_alias(bad_ws.store, t.model, "production")[0] == t.bad

    result = rollback(bad_ws.store, bad_ws.lake, t.model, reason="ctr drop on android_tv", at=t.rolled_back)

    assert (result.from_version, result.to_version) == (t.bad, t.good)
    assert resolve_alias(bad_ws.store, t.model, "production")[0] == t.good  # serving lookup, at once
    last = alias_history(bad_ws.store, t.model, "production")[-1]
    assert (last.version, last.at, last.reason) == (t.good, t.rolled_back, "ctr drop on android_tv")
    # Audit: the alias move and the rollback decision, chained, in that order.
    moves = audit.entries(bad_ws.store, subject=f"{t.model}:production")
    assert [e.action for e in moves][-2:] == ["alias.set", "rollback"]
    decision = moves[-1].payload
    assert decision["from"] == t.bad and decision["to"] == t.good
    assert [c["version"] for c in decision["candidates"]] == [t.good]
    assert decision["candidates"][0]["eligible"] is True
    with bad_ws.store.session() as session:
        assert audit.verify_chain(session).ok
    # The change record went through ingest into the lake.
    con = bad_ws.lake.connect()
    rows = con.execute(
        "SELECT epoch_ms(ts), target, version, description FROM changes WHERE kind = 'rollback'"
    ).fetchall()
    assert len(rows) == 1
    ts, target, version, description = rows[0]
    assert (ts, target, version) == (int(t.rolled_back.timestamp() * 1000), t.model, t.good)
    assert t.bad in description
    assert alert_id > 0


def test_a_version_with_an_attributed_alert_is_not_a_target(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = _truth(bad_deploy_world)
    _alert(bad_ws, t.good, t.deployed - timedelta(hours=3))  # inside v12's production window
    with pytest.raises(NotFound, match="alert"):
        choose_target(bad_ws.store, t.model)
    # An operator may still name the target explicitly.
    result = rollback(bad_ws.store, bad_ws.lake, t.model, to=t.good, at=t.rolled_back)
    assert result.to_version == t.good
    assert result.candidates[0].alerts


def test_an_alert_outside_the_window_does_not_count(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = _truth(bad_deploy_world)
    _alert(bad_ws, t.good, t.deployed + timedelta(hours=5))  # after v12 left production
    assert choose_target(bad_ws.store, t.model)[0] == t.good


def test_the_latest_gate_result_decides(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    t = _truth(bad_deploy_world)
    record_validation(bad_ws.store, t.model, t.good, name="gate:production", passed=False, origin="gate")
    [c] = candidates(bad_ws.store, t.model)
    assert (c.gates_passed, c.eligible, c.why()) == (False, False, "failed its gates")
    register_version(bad_ws.store, model=t.model, version="v99", artifact_uri="s3://models/v99")
    with pytest.raises(InvalidInput):
        rollback(bad_ws.store, bad_ws.lake, t.model, to=t.bad)  # already on it
    with pytest.raises(NotFound):
        rollback(bad_ws.store, bad_ws.lake, t.model, to="v100")


def test_cli_rollback_json(bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]) -> None:
    t = _truth(bad_deploy_world)
    root = str(bad_ws.config.root)
    result = CliRunner().invoke(
        build_app(["rollback"]), ["rollback", t.model, "--reason", "bad deploy", "-w", root, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["from_version"], data["to_version"], data["reason"]) == (t.bad, t.good, "bad deploy")
    assert resolve_alias(bad_ws.store, t.model, "production")[0] == t.good


def test_an_upstream_data_alert_in_the_versions_slice_does_not_count(
    bad_ws: Workspace, bad_deploy_world: tuple[Path, World, Truth]
) -> None:
    """A stale feature group shows in every version's slice; it is not the version's fault."""
    t = _truth(bad_deploy_world)
    when = t.deployed - timedelta(hours=3)  # inside v12's production window
    _alert(bad_ws, t.good, when, metric="stale_feature_share")
    _alert(bad_ws, t.good, when, metric="feature_drift_ratio")
    assert choose_target(bad_ws.store, t.model)[0] == t.good
    _alert(bad_ws, t.good, when, metric="ctr")  # the version's own behaviour still counts
    with pytest.raises(NotFound, match="alert"):
        choose_target(bad_ws.store, t.model)
