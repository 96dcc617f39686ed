"""Acceptance of the deployment gates in a simulated world.

The world (3 days × 30,000 requests) holds a no-effect deploy (v13: a 12-hour canary on half
of the users, then production) and a bad deploy (v14: an 18-hour canary on half of the users
that lowers CTR by 30 % on android_tv only). The gate for v14 → production, with v13 on the
alias, must fail on that segment; promotion must be refused, an override must need a reason
and be audited; the same gate passes v13 against v12.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from recops.cli.main import build_app
from recops.errors import CheckFailed, ConfigError, InvalidInput, RecopsError
from recops.registry import (
    CodeRef,
    EnvironmentRef,
    declared_dataset,
    describe_dataset,
    register_version,
    set_alias,
)
from recops.registry.aliases import resolve_alias
from recops.registry.audit import entries
from recops.registry.versions import validations
from recops.respond.gates.policy import GatePolicy, load_policy
from recops.respond.gates.promote import promote
from recops.respond.gates.result import Period
from recops.respond.gates.run import run_gate
from recops.sim import Incident, SimConfig
from recops.workspace import Workspace
from tests.unit.monitors.conftest import build_world_workspace

pytestmark = pytest.mark.slow

DAY1 = datetime(2026, 10, 1, tzinfo=UTC)
NO_EFFECT_CANARY = Period(datetime(2026, 10, 1, 12, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC))
BAD_CANARY = Period(datetime(2026, 10, 2, 6, tzinfo=UTC), datetime(2026, 10, 3, tzinfo=UTC))


def _register(ws: Workspace, version: str, created: datetime, ndcg: float = 0.40) -> None:
    register_version(
        ws.store,
        model="ranker",
        version=version,
        artifact_uri=f"s3://models/ranker/{version}",
        artifact_digest="sha256:" + "ab" * 32,
        datasets=[
            declared_dataset(
                f"s3://data/train/{version}",
                digest="sha256:" + "cd" * 32,
                name="train",
                rows=1000,
                time_min=created - timedelta(days=14),
                time_max=created - timedelta(hours=6),
            )
        ],
        code=CodeRef("git@example:ranker.git", "0123abcd", False),
        environment=EnvironmentRef("sha256:" + "ef" * 32),
        metrics={"ndcg_at_10": ndcg, "recall_at_50": 0.6},
        created_by="trainer",
        created_at=created,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gates-world") / "ws"
    incidents = [
        Incident(
            "no_effect_deploy",
            start="2026-10-01T12:00",
            hours=14,
            params={"canary_share": 0.5, "canary_hours": 12},
        ),
        Incident(
            "bad_deploy_segment",
            start="2026-10-02T06:00",
            hours=40,
            params={"canary_share": 0.5, "canary_hours": 18},
        ),
    ]
    build_world_workspace(root, SimConfig(seed=5, days=3, requests_per_day=30_000, incidents=incidents))
    with Workspace.open(root) as ws:
        _register(ws, "v12", DAY1 - timedelta(days=20))
        _register(ws, "v13", DAY1 - timedelta(days=1))
        _register(ws, "v14", DAY1, ndcg=0.401)
        set_alias(ws.store, "ranker", "production", "v12", at=DAY1 - timedelta(days=19), reason="initial")
    return root


@pytest.fixture
def ws(world: Path, tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "ws"
    shutil.copytree(world, root, ignore=shutil.ignore_patterns("raw"))
    w = Workspace.open(root)
    yield w
    w.close()


def _on_v13(ws: Workspace) -> None:
    """Gate v13 (passes) and promote it, as the world's own deploy did."""
    report, _ = run_gate(ws.store, ws.lake, ws.config, "ranker", "v13", "production")
    assert report.passed, [c.to_json() for c in report.checks if c.status != "pass"]
    promote(ws.store, "ranker", "v13", "production", at=datetime(2026, 10, 2, tzinfo=UTC))


def test_no_effect_version_passes_every_check(ws: Workspace) -> None:
    report, stored = run_gate(ws.store, ws.lake, ws.config, "ranker", "v13", "production")
    assert report.control == "v12"
    assert report.canary_window == NO_EFFECT_CANARY  # from the lake's canary change record
    assert {c.check: c.status for c in report.checks} == {
        "lineage": "pass",
        "offline_metrics": "pass",
        "training_data": "pass",
        "canary": "pass",
        "latency": "pass",
    }
    assert report.passed and stored is not None and stored.passed and stored.name == "gate:production"
    assert validations(ws.store, "ranker", "v13")[-1].details["status"] == "pass"


def test_the_stored_result_names_who_ran_the_gate(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    _, stored = run_gate(ws.store, ws.lake, ws.config, "ranker", "v13", "production", actor="token:ci")
    assert stored is not None and stored.actor == "token:ci"
    [entry] = entries(ws.store, subject="ranker@v13", action="validation.record")
    assert entry.seq == stored.audit_seq and entry.actor == "token:ci"
    assert validations(ws.store, "ranker", "v13")[-1].actor == "token:ci"
    # The CLI names the person (or $RECOPS_ACTOR), as its other writes do.
    monkeypatch.setenv("RECOPS_ACTOR", "alice")
    code, out = _cli("gate", "check", "ranker@v13", "--to", "production", "-w", str(ws.config.root), "--json")
    assert code == 0, out
    latest = validations(ws.store, "ranker", "v13")[-1]
    assert latest.actor == "alice" and latest.audit_seq == json.loads(out)["audit_seq"]


def test_bad_version_fails_on_the_affected_segment(ws: Workspace) -> None:
    _on_v13(ws)
    report, stored = run_gate(ws.store, ws.lake, ws.config, "ranker", "v14", "production")
    assert report.control == "v13" and report.canary_window == BAD_CANARY
    canary = next(c for c in report.checks if c.check == "canary")
    assert canary.status == "fail" and not report.passed
    assert "ctr[device=android_tv]" in canary.evidence["failed"]
    by_slice = {x["slice"]: x for x in canary.evidence["comparisons"] if x["metric"] == "ctr"}
    tv = by_slice["device=android_tv"]
    assert tv["relative_change"] < -0.2 and tv["ci_high"] < 0
    # every other device slice passes: the regression is located, not smeared
    assert all(
        x["status"] == "pass"
        for s, x in by_slice.items()
        if s.startswith("device=") and "android_tv" not in s
    )
    # the stored evidence is the lake's numbers: recount the android_tv CTR per version
    con = ws.lake.connect()
    try:
        rows = dict(
            (v, (c, i))
            for v, c, i in con.execute(
                "SELECT r.model_version, count(*) FILTER (WHERE o.event = 'click'), "
                "count(*) FILTER (WHERE o.event = 'impression') "
                "FROM requests r JOIN outcomes o USING (request_id) "
                "WHERE r.context['device'] = 'android_tv' AND r.ts >= $s AND r.ts < $e "
                "AND o.ts < $e + INTERVAL 1 DAY GROUP BY ALL",
                {"s": BAD_CANARY.start, "e": BAD_CANARY.end},
            ).fetchall()
        )
    finally:
        con.close()
    assert tv["candidate"] == pytest.approx(rows["v14"][0] / rows["v14"][1], rel=1e-12)
    assert tv["control"] == pytest.approx(rows["v13"][0] / rows["v13"][1], rel=1e-12)
    assert stored is not None and not stored.passed and stored.origin == "gate"


def test_promotion_refused_override_needs_a_reason_and_is_audited(ws: Workspace) -> None:
    _on_v13(ws)
    run_gate(ws.store, ws.lake, ws.config, "ranker", "v14", "production")
    with pytest.raises(CheckFailed, match="did not pass"):
        promote(ws.store, "ranker", "v14", "production")
    for empty in (None, "", "   "):
        with pytest.raises(InvalidInput, match="reason"):
            promote(ws.store, "ranker", "v14", "production", override=True, reason=empty)
    with pytest.raises(InvalidInput, match="invalid alias"):
        promote(ws.store, "ranker", "v14", "")
    assert resolve_alias(ws.store, "ranker", "production")[0] == "v13"
    event, gate = promote(
        ws.store, "ranker", "v14", "production", override=True, reason="hotfix INC-7", actor="oncall"
    )
    assert event is not None and event.override and gate is not None and not gate.passed
    assert resolve_alias(ws.store, "ranker", "production")[0] == "v14"
    audit = entries(ws.store, subject="ranker:production", action="alias.override")
    assert len(audit) == 1 and audit[0].actor == "oncall" and audit[0].payload["reason"] == "hotfix INC-7"
    assert audit[0].payload["previous"] == "v13"


def _cli(*args: str) -> tuple[int, str]:
    """Run the CLI in-process: (exit code, output), recops errors mapped as ``recops`` does."""
    result = CliRunner().invoke(build_app(["gate", "promote"]), list(args))
    if isinstance(result.exception, RecopsError):
        return result.exception.exit_code, str(result.exception)
    return result.exit_code, result.output


def test_cli_exit_codes_and_json(ws: Workspace) -> None:
    w = ("-w", str(ws.config.root))
    code, out = _cli("gate", "check", "ranker@v13", "--to", "production", *w, "--json")
    assert code == 0, out
    assert json.loads(out)["passed"] is True
    code, out = _cli("promote", "ranker@v13", "--to", "production", *w, "--at", "2026-10-02T00:00:00Z")
    assert code == 0, out
    window = ("--canary-from", "2026-10-02T06:00:00Z", "--canary-to", "2026-10-03T00:00:00Z")
    code, out = _cli("gate", "check", "ranker@v14", "--to", "production", *w, *window)
    assert code == 1 and "device=android_tv" in out
    code, out = _cli("promote", "ranker@v14", "--to", "production", *w)
    assert code == 1 and "did not pass" in out
    code, out = _cli("promote", "ranker@v14", "--to", "production", "--override", *w)
    assert code == 2 and "reason" in out
    code, out = _cli(
        "promote", "ranker@v14", "--to", "production", "--override", "--reason", "INC-7", *w, "--json"
    )
    assert code == 0 and json.loads(out)["event"]["override"] is True
    assert _cli("gate", "check", "ranker-v14", "--to", "production", *w)[0] == 2
    assert _cli("gate", "check", "ranker@v14", "--to", "production", *w, *window[:2])[0] == 2
    assert _cli("gate", "check", "ranker@v99", "--to", "production", *w)[0] == 2


def test_counterfactual_of_the_logged_policy_reproduces_its_observed_ctr(
    ws: Workspace, tmp_path: Path
) -> None:
    # The candidate's propensities equal the logged ones: every weight is 1, so SNIPS is the
    # observed CTR of those slots exactly, and the check passes (the bar is that same CTR).
    con = ws.lake.connect()
    try:
        logged = con.execute(
            "SELECT request_id, item_id, position, propensity FROM candidates WHERE position IS NOT NULL "
            "AND propensity > 0 AND model_version = 'v13' AND ts >= $s AND ts < $e",
            {"s": NO_EFFECT_CANARY.start, "e": NO_EFFECT_CANARY.end},
        ).to_arrow_table()
        clicked = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT c.request_id, c.item_id FROM candidates c JOIN outcomes o "
            "ON o.request_id = c.request_id AND o.item_id = c.item_id AND o.event = 'click' "
            "WHERE c.position IS NOT NULL AND c.propensity > 0 AND c.model_version = 'v13' "
            "AND c.ts >= $s AND c.ts < $e)",
            {"s": NO_EFFECT_CANARY.start, "e": NO_EFFECT_CANARY.end},
        ).fetchone()
    finally:
        con.close()
    assert clicked is not None
    path = tmp_path / "props.parquet"
    pq.write_table(
        logged.cast(
            pa.schema(
                [
                    ("request_id", pa.string()),
                    ("item_id", pa.string()),
                    ("position", pa.int32()),
                    ("propensity", pa.float64()),
                ]
            )
        ),
        path,
    )
    report, _ = run_gate(
        ws.store, ws.lake, ws.config, "ranker", "v13", "production", propensities=path, record=False
    )
    cf = next(c for c in report.checks if c.check == "counterfactual")
    assert cf.evidence["slots"] == logged.num_rows
    assert cf.evidence["candidate_ctr"] == pytest.approx(clicked[0] / logged.num_rows, rel=1e-12)
    assert cf.evidence["production_ctr"] == pytest.approx(clicked[0] / logged.num_rows, rel=1e-12)
    assert cf.status == "pass"


def test_policy_file_errors_name_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "gates.yaml").write_text("ranker:\n  production:\n    checks:\n      canery: {}\n")
    with pytest.raises(ConfigError, match=r"canery.*gates.yaml.*key ranker.production.checks.canery"):
        load_policy(tmp_path, "ranker", "production")
    (tmp_path / "gates.yaml").write_text("ranker:\n  production:\n    allow_marginal: maybe\n")
    with pytest.raises(ConfigError, match=r"ranker\.production\.allow_marginal"):
        load_policy(tmp_path, "ranker", "production")
    (tmp_path / "gates.yaml").write_text(
        "'*':\n  production:\n    allow_marginal: true\n"
        "    checks:\n      lineage:\n      canary: {alpha: 0.01}\n"
    )
    policy = load_policy(tmp_path, "ranker", "production")
    assert policy.checks == {"lineage": {}, "canary": {"alpha": 0.01}} and policy.allow_marginal
    assert load_policy(tmp_path, "ranker", "staging").source == "defaults"


def test_skew_check_compares_training_data_with_serving_features(ws: Workspace, tmp_path: Path) -> None:
    con = ws.lake.connect()
    try:
        served = con.execute(
            "SELECT features['session_depth'] AS session_depth, "
            "features['watch_minutes_7d'] AS watch_minutes_7d "
            "FROM requests WHERE ts >= '2026-10-03T00:00:00Z' USING SAMPLE 20000 ROWS"
        ).to_arrow_table()
    finally:
        con.close()
    same = tmp_path / "train-same" / "part-0.parquet"
    same.parent.mkdir()
    pq.write_table(served, same)
    scaled = tmp_path / "train-scaled" / "part-0.parquet"
    scaled.parent.mkdir()
    minutes = pc.multiply(served.column("watch_minutes_7d"), 60.0)  # seconds, not minutes
    pq.write_table(served.set_column(1, "watch_minutes_7d", minutes), scaled)
    policy = GatePolicy("ranker", "production", {"skew": {}})
    for version, path in (("s1", same.parent), ("s2", scaled.parent)):
        register_version(
            ws.store,
            model="ranker",
            version=version,
            artifact_uri=f"s3://m/{version}",
            datasets=[describe_dataset(path, name="train")],
        )
    ok, _ = run_gate(ws.store, ws.lake, ws.config, "ranker", "s1", "production", policy=policy, record=False)
    bad, _ = run_gate(ws.store, ws.lake, ws.config, "ranker", "s2", "production", policy=policy, record=False)
    assert ok.checks[0].status == "pass", ok.checks[0].summary
    assert bad.checks[0].status == "fail" and bad.checks[0].evidence["drifted"] == [
        "watch_minutes_7d (train)"
    ]


def test_the_documented_policy_example_loads(tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "docs" / "response.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "gates.yaml").write_text(block)
    policy = load_policy(tmp_path, "ranker", "production")
    assert list(policy.checks) == [
        "lineage",
        "offline_metrics",
        "training_data",
        "skew",
        "canary",
        "counterfactual",
        "latency",
    ]
    assert policy.checks["canary"]["critical"] == ["ctr"]
    assert list(load_policy(tmp_path, "other", "canary").checks) == ["lineage", "latency"]
