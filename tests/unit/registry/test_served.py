"""``served --at`` and the traffic check on a simulated world, on SQLite and PostgreSQL.

The simulated platform canaries v13, promotes it, canaries v14, promotes it and rolls it
back. Its change records are replayed as alias moves; the answers are checked against
the ground truth's version timeline and against the request logs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from recops.ingest.pipeline import ingest_files
from recops.registry import check_traffic, register_version, remove_alias, served_at, set_alias
from recops.registry._canonical import parse_time
from recops.registry.traffic import DEFAULT_GRACE, traffic_at
from recops.sim import Incident, SimConfig, World, simulate
from recops.workspace import Workspace

MODEL = "ranker"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    config = SimConfig(
        seed=11,
        days=8,
        requests_per_day=1500,
        incidents=[
            Incident("no_effect_deploy", start="2026-10-02T10:00"),
            Incident("bad_deploy_segment", start="2026-10-04T08:00"),
        ],
    )
    w = simulate(config)
    raw = tmp_path_factory.mktemp("world")
    w.write(raw, "parquet")
    return w, raw


def expected_at(truth_versions: list[dict[str, Any]], t: datetime) -> dict[str, str]:
    """Production and canary at ``t`` from the ground truth's version timeline alone."""
    live = [
        v for v in truth_versions
        if v["deployed_at"] and parse_time(v["deployed_at"]) <= t
        and not (v["rolled_back_at"] and parse_time(v["rolled_back_at"]) <= t)
    ]  # fmt: skip
    out = {"production": max(live, key=lambda v: parse_time(v["deployed_at"]))["version"]}
    for v in truth_versions:
        if not v["canary_start"]:
            continue
        ends = [parse_time(x) for x in (v["deployed_at"], v["rolled_back_at"]) if x]
        if parse_time(v["canary_start"]) <= t < min(ends):
            out["canary"] = v["version"]
    return out


def replay(ws: Workspace, w: World, *, skip: tuple[str, ...] = ()) -> list[datetime]:
    """Register the world's versions and replay its model changes as alias moves."""
    for v in w.truth.model_versions:
        register_version(
            ws.store, model=MODEL, version=v["version"], artifact_uri=f"s3://models/{v['version']}"
        )
    first = w.truth.model_versions[0]
    set_alias(ws.store, MODEL, "production", first["version"], at=parse_time(first["deployed_at"]))
    moves = [parse_time(first["deployed_at"])]
    for c in w.tables["changes"].to_pylist():
        if c["target"] != MODEL or c["kind"] in skip:
            continue
        at = c["ts"]
        canary = {s.alias: s.version for s in served_at(ws.store, MODEL, at)}.get("canary")
        if c["kind"] == "canary":
            set_alias(
                ws.store, MODEL, "canary", c["version"], at=at, actor=c["actor"], reason=c["description"]
            )
        else:  # deploy, or rollback (whose version is the restored one): production moves, the canary ends
            set_alias(
                ws.store, MODEL, "production", c["version"], at=at, actor=c["actor"], reason=c["description"]
            )
            if canary is not None:
                remove_alias(ws.store, MODEL, "canary", at=at, actor=c["actor"])
        moves.append(at)
    return moves


def test_served_at_matches_the_alias_history_at_every_move(
    any_workspace: Workspace, world: tuple[World, Path]
) -> None:
    w, raw = world
    ingest_files(any_workspace.lake, "requests", [raw / "requests"])
    moves = replay(any_workspace, w)
    assert len(moves) == 6  # initial production, 2 canaries, 2 deploys, 1 rollback
    truth = w.truth.model_versions
    requests = w.tables["requests"]
    for t in moves:
        for moment in (t, t + timedelta(minutes=30)):
            got = {s.alias: s.version for s in served_at(any_workspace.store, MODEL, moment)}
            assert got == expected_at(truth, moment), moment
        # What the request logs say was served in the 3 hours after the move, from the world's own table.
        lo, hi = t + timedelta(minutes=1), t + timedelta(minutes=181)
        mask = pa.compute.and_(
            pa.compute.greater_equal(requests["ts"], pa.scalar(lo, requests["ts"].type)),
            pa.compute.less(requests["ts"], pa.scalar(hi, requests["ts"].type)),
        )
        served = set(requests.filter(mask)["model_version"].to_pylist())
        if served:  # the first move predates the simulated traffic
            assert served == set(expected_at(truth, lo).values()), t
            assert (
                set(
                    traffic_at(
                        any_workspace.lake, MODEL, lo + timedelta(minutes=90), around=timedelta(minutes=90)
                    )
                )
                == served
            )
    report = check_traffic(any_workspace.store, any_workspace.lake, MODEL)
    assert report.ok, [f.message for f in report.findings]
    assert report.requests == requests.num_rows
    counts = pa.compute.value_counts(requests["model_version"]).to_pylist()
    assert report.by_version == {c["values"]: c["counts"] for c in counts}


def test_traffic_the_aliases_did_not_name_is_flagged(
    any_workspace: Workspace, world: tuple[World, Path]
) -> None:
    w, raw = world
    ingest_files(any_workspace.lake, "requests", [raw / "requests"])
    replay(any_workspace, w, skip=("canary",))  # the registry never heard of the canaries
    # ... and someone pointed a shadow alias at v12 while v12 served nothing.
    shadow_at = parse_time("2026-10-06T00:00:00Z")
    set_alias(any_workspace.store, MODEL, "shadow", "v12", at=shadow_at)
    report = check_traffic(any_workspace.store, any_workspace.lake, MODEL)
    unaliased = {f.version: f for f in report.findings if f.kind == "unaliased_traffic"}
    truth = {v["version"]: v for v in w.truth.model_versions}
    assert set(unaliased) == {"v13", "v14"}
    for version, finding in unaliased.items():
        start, end = parse_time(truth[version]["canary_start"]), parse_time(truth[version]["deployed_at"])
        canary = w.tables["requests"].filter(
            pa.compute.and_(
                pa.compute.equal(w.tables["requests"]["model_version"], version),
                # the production span counts as naming it from DEFAULT_GRACE before the deploy
                pa.compute.less(
                    w.tables["requests"]["ts"],
                    pa.scalar(end - DEFAULT_GRACE, w.tables["requests"]["ts"].type),
                ),
            )
        )
        assert finding.requests == canary.num_rows > 0
        assert start <= finding.start and finding.end is not None and finding.end < end
    not_followed = [f for f in report.findings if f.kind == "move_not_followed"]
    assert [(f.alias, f.version, f.start) for f in not_followed] == [("shadow", "v12", shadow_at)]

    # The CLI exits 1 with the findings; checking only production and canary drops the shadow one.
    def served(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "recops.cli", "registry", "served", MODEL, *args,
             "-w", str(any_workspace.config.root)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    done = served("--check", "--json", "--at", "2026-10-02T12:00:00Z")
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert [a["version"] for a in out["aliases"]] == ["v12"]  # production only: the canary is unknown
    assert out["unaliased_around"] == ["v13"]
    assert {f["kind"] for f in out["check"]["findings"]} == {"unaliased_traffic", "move_not_followed"}
    kinds = {
        f["kind"]
        for f in json.loads(served("--check", "--json", "--aliases", "production,canary").stdout)["check"][
            "findings"
        ]
    }
    assert kinds == {"unaliased_traffic"}
