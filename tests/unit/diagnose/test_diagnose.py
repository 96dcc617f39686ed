"""Root-cause ranking: real worlds in real workspaces (DuckDB lake, SQLite store).

One simulated world (13 days × 3,000 requests a day) carries six incidents, placed apart
so their baselines a week earlier are quiet; it is monitored and judged by the detection
pass once per session, and each test diagnoses one incident (from its first alert when
detection raises one on a world this short, else from the incident's window) and checks
that the true cause, read from the ground truth, ranks first and is named in the JSON.
Small synthetic stores check the arithmetic against independent calculations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from typer.testing import CliRunner

from recops.catalog import load_catalog
from recops.cli.main import build_app
from recops.detect.alerts import Alert, list_alerts
from recops.detect.run import run_detection
from recops.diagnose.causes.evidence import (
    ALIGN_HALF_LIFE,
    alignment,
    association,
    materiality,
    shift,
    significance,
)
from recops.diagnose.causes.points import Series, Window
from recops.diagnose.contribution import Period, analyze_contributions, week_before
from recops.diagnose.diagnose import Diagnosis, diagnose_alert, diagnose_metric
from recops.errors import InvalidInput, NotFound, RecopsError
from recops.ingest import ingest_files
from recops.monitors import run_monitors
from recops.monitors.series import conform, replace_points
from recops.sim import Incident, SimConfig
from recops.workspace import Workspace
from tests.records import write_jsonl
from tests.unit.monitors.conftest import build_world_workspace

UTC_HOUR = timedelta(hours=1)
INCIDENTS = [
    Incident("bad_deploy_segment", start="2026-10-05T10:00"),
    Incident("late_arrivals", start="2026-10-07T02:00", hours=6),
    Incident("candidate_source_outage", start="2026-10-07T12:00", hours=5),
    Incident("stale_feature_group", start="2026-10-08T14:00", hours=8),
    # A feature the stale group (the day before) does not serve, so that its drift alert
    # is not the stale group's, still open.
    Incident(
        "upstream_schema_change", start="2026-10-09T02:00", hours=12, params={"feature": "watch_minutes_7d"}
    ),
    Incident("latency_regression", start="2026-10-10T12:00", hours=6),
]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The six-incident world, ingested, monitored and judged; never modified by tests."""
    root = tmp_path_factory.mktemp("diagnose-world") / "ws"
    config = SimConfig(seed=11, start="2026-09-28", days=13, requests_per_day=3_000, incidents=INCIDENTS)
    sim = build_world_workspace(root, config)
    with Workspace.open(root) as ws:
        # Every family but the quality checks, which no incident here is about.
        run_monitors(ws.config, ws.lake, only=["arrival", "freshness", "drift", "metrics", "latency"])
        run_detection(ws.store, ws.config, load_catalog(ws.config.root))
    truth = sim.truth.to_json()
    return root, {i["kind"]: i for i in truth["incidents"]}


@pytest.fixture
def ws(world: tuple[Path, dict[str, Any]]) -> Iterator[Workspace]:
    w = Workspace.open(world[0])
    yield w
    w.close()


def first_alert(ws: Workspace, incident: dict[str, Any], family: str) -> Alert:
    """The first alert of ``family`` whose data time falls in the incident's span."""
    catalog = load_catalog(ws.config.root)
    start, end = _at(incident["start"]), _at(incident["end"]) + timedelta(days=1)
    found = [
        a
        for a in list_alerts(ws.store)
        if start < a.data_time <= end and a.metric in catalog and catalog.get(a.metric).family == family
    ]
    assert found, f"detection raised no {family} alert for {incident['kind']}"
    return min(found, key=lambda a: (a.data_time, a.id))


def top(d: Diagnosis) -> dict[str, Any]:
    data = d.to_json()
    json.dumps(data, allow_nan=False)  # strict JSON: no NaN or infinity anywhere
    assert data["hypotheses"], "no hypothesis at all"
    best: dict[str, Any] = data["hypotheses"][0]
    assert best["score"] > 0
    return best


# -- incidents of the world ----------------------------------------------------------------------


def test_stale_feature_group_alert_ranks_the_group_first(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    incident = world[1]["stale_feature_group"]
    alert = first_alert(ws, incident, "freshness")
    best = top(diagnose_alert(ws.store, ws.lake, ws.config, alert.id))
    assert best["kind"] == "feature_group"
    assert best["entity"]["feature_group"] == incident["entity"]["feature_group"]
    assert "session_watch_minutes" in best["entity"]["features"]  # from the feature rows in the lake
    stale = best["evidence"]["stale_feature_share"]
    assert stale["current"] > 0.05 > stale["baseline"]


def test_schema_change_ranks_first_for_the_drift_alert(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    incident = world[1]["upstream_schema_change"]
    alert = first_alert(ws, incident, "drift")
    diagnosis = diagnose_alert(ws.store, ws.lake, ws.config, alert.id)
    best = top(diagnosis)
    assert best["kind"] == "schema_change"
    assert best["entity"]["source"] == incident["entity"]["source"]
    assert incident["entity"]["column"] in best["entity"]["columns"]
    change = best["evidence"]["changes"][0]
    diff = {d["column"]: (d["from"], d["to"]) for d in change["diff"]}
    assert diff["watch_duration"] == ("double", incident["effect"]["to_type"])
    # The partition named is the first whose schema changed, in the incident's span.
    assert _at(incident["start"]) <= _at(change["landed_at"]) <= _at(incident["end"])
    assert not any(
        h.kind == "feature_drift" for h in diagnosis.hypotheses
    )  # a drift move's causes are upstream


def test_schema_change_ranks_first_for_the_schema_changes_alert(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    # The schema_changes series counts a partition in its own window, so its alert can be
    # judged before the partition has landed: the diagnosis still finds the change.
    incident = world[1]["upstream_schema_change"]
    start, end = _at(incident["start"]), _at(incident["end"]) + timedelta(days=1)
    alert = min(
        (a for a in list_alerts(ws.store) if a.metric == "schema_changes" and start < a.data_time <= end),
        key=lambda a: (a.data_time, a.id),
    )
    best = top(diagnose_alert(ws.store, ws.lake, ws.config, alert.id))
    assert best["kind"] == "schema_change"
    assert best["entity"]["source"] == incident["entity"]["source"] == alert.subject
    assert incident["entity"]["column"] in best["entity"]["columns"]
    change = best["evidence"]["changes"][0]
    assert _at(change["partition_start"]) < alert.data_time


def test_late_arrivals_alert_names_source_and_partitions(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    incident = world[1]["late_arrivals"]
    alert = first_alert(ws, incident, "arrival")
    best = top(diagnose_alert(ws.store, ws.lake, ws.config, alert.id))
    assert best["kind"] == "arrival"
    assert best["entity"]["source"] == incident["entity"]["source"]
    truth = set(incident["entity"]["partitions"]) | set(incident["entity"]["missing_partitions"])
    named = set(best["entity"]["partitions"])
    assert named and named <= truth
    assert set(best["entity"]["missing_partitions"]) <= set(incident["entity"]["missing_partitions"])


def test_bad_deploy_ranks_the_deploy_first_with_version_and_segment(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    incident = world[1]["bad_deploy_segment"]
    promoted = next(c for c in incident["changes"] if c["kind"] == "deploy")
    start = _at(promoted["ts"])
    segment = incident["entity"]["segment"]
    diagnosis = diagnose_metric(
        ws.store, ws.lake, ws.config, "ctr", start, start + timedelta(days=2),
        slice=f"{segment['key']}={segment['value']}",
    )  # fmt: skip
    best = top(diagnosis)
    assert best["kind"] == "change"
    assert best["entity"]["change_kind"] == "deploy"
    assert best["entity"]["model_version"] == incident["entity"]["model_version"]
    assert best["entity"]["segment"] == f"{segment['key']}={segment['value']}"
    assert diagnosis.move.moved is not None and diagnosis.move.moved.relative is not None
    assert diagnosis.move.moved.relative < -0.15  # the segment's CTR fell (by 30 % in truth)
    # The canary a day earlier names the same version but is less aligned.
    canary = next(h for h in diagnosis.hypotheses if h.entity.get("change_kind") == "canary")
    assert canary.alignment == pytest.approx(
        0.5 ** ((timedelta(hours=24) - timedelta(hours=6)) / ALIGN_HALF_LIFE)
    )
    assert canary.score < best["score"]


def test_latency_regression_names_stage_and_surface(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    incident = world[1]["latency_regression"]
    start, end = _at(incident["start"]), _at(incident["end"])
    diagnosis = diagnose_metric(ws.store, ws.lake, ws.config, "latency_p99_ms", start, end)
    best = top(diagnosis)
    assert (best["entity"]["stage"], best["entity"]["surface"]) == (
        incident["entity"]["stage"],
        incident["entity"]["surface"],
    )
    # The service deploy at the start names the same stage and surface, right behind.
    deploy = next(h for h in diagnosis.hypotheses if h.kind == "change" and h.entity.get("stage"))
    assert deploy.entity["target"] == incident["changes"][0]["target"]
    assert (deploy.entity["stage"], deploy.entity["surface"]) == ("ranking", "home_row")
    assert deploy.alignment == 1.0
    # The same stage on every surface is not the story: the rise is concentrated on one.
    everywhere = next(
        h for h in diagnosis.hypotheses if h.kind == "stage_latency" and h.entity["surface"] is None
    )
    assert everywhere.score < 0.5 * best["score"]


def test_candidate_source_outage_names_the_source(ws: Workspace, world: tuple[Path, dict[str, Any]]) -> None:
    incident = world[1]["candidate_source_outage"]
    source = incident["entity"]["candidate_source"]
    start, end = _at(incident["start"]), _at(incident["end"])
    diagnosis = diagnose_metric(
        ws.store, ws.lake, ws.config, "candidate_source_share", start, end, subject=source
    )
    best = top(diagnosis)
    assert best["kind"] == "candidate_source"
    assert best["entity"] == {
        "candidate_source": source,
        "change": "outage",
        "surfaces": best["entity"]["surfaces"],
    }
    assert best["evidence"]["shift"]["current"] == 0.0
    # The largest source's rise is explained by the outage (shares are zero-sum), not the other way.
    rise = diagnose_metric(
        ws.store, ws.lake, ws.config, "candidate_source_share", start, end, subject="collaborative"
    )
    assert top(rise)["entity"]["candidate_source"] == source


# -- the acceptance case: a tiny slice that falls far against a large one that falls a little --


NOW = datetime(2026, 3, 9, 12, tzinfo=UTC)
CURRENT = Period(NOW, NOW + 6 * UTC_HOUR)


def _ctr_points(
    segments: dict[str, tuple[float, float, float]], periods: list[tuple[Period, str]]
) -> pa.Table:
    """Hourly CTR points: ``segments`` = device → (share of impressions, baseline CTR, current CTR)."""
    rows = []
    impressions = 200_000
    for period, which in periods:
        t = period.start
        while t < period.end:
            total_n = total_d = 0.0
            for device, (share, base, cur) in segments.items():
                d = float(round(impressions * share))
                n = float(round(d * (base if which == "baseline" else cur)))
                total_n, total_d = total_n + n, total_d + d
                rows.append(_point("ctr", f"device={device}", t, n, d))
            rows.append(_point("ctr", "", t, total_n, total_d))
            t += UTC_HOUR
    return conform(pa.Table.from_pylist(rows))


def _point(metric: str, slice_: str, t: datetime, n: float, d: float) -> dict[str, Any]:
    return {
        "metric": metric, "subject": "", "slice": slice_, "granularity": "hour", "window_start": t,
        "window_end": t + UTC_HOUR, "family": "metrics", "value": n / d, "numerator": n, "denominator": d,
        "n": int(d),
    }  # fmt: skip


def test_a_tiny_slice_falling_far_ranks_below_a_large_slice_falling_a_little(
    any_workspace: Workspace,
) -> None:
    workspace = any_workspace
    segments = {"tiny": (0.005, 0.04, 0.008), "big": (0.40, 0.04, 0.036), "rest": (0.595, 0.04, 0.04)}
    baseline = week_before(CURRENT)
    points = _ctr_points(segments, [(CURRENT, "current"), (baseline, "baseline")])
    starts = sorted(set(points["window_start"].to_pylist()))
    replace_points(workspace.store, "metrics", {"hour": starts}, points, engine="test")
    diagnosis = diagnose_metric(
        workspace.store, workspace.lake, workspace.config, "ctr", CURRENT.start, CURRENT.end
    )
    ranked = [h.entity.get("slice") for h in diagnosis.hypotheses if h.kind == "slice"]
    assert ranked.index("device=big") < ranked.index("device=tiny")
    assert diagnosis.hypotheses[0].entity["slice"] == "device=big"
    # The slice scores are decision 0033's, unchanged.
    report = analyze_contributions(workspace.store, "ctr", CURRENT, baseline)
    expected = {h.slice: h.score for h in report.hypotheses}
    for h in diagnosis.hypotheses:
        assert h.score == pytest.approx(expected[h.entity["slice"]], abs=1e-12)
    # Hand calculation of the move: R0 = 4 %, R1 = 0.005·0.8 % + 0.4·3.6 % + 0.595·4 %.
    assert diagnosis.move.moved is not None
    r1 = 0.005 * 0.008 + 0.40 * 0.036 + 0.595 * 0.04
    assert diagnosis.move.moved.current == pytest.approx(r1, rel=1e-4)
    assert diagnosis.move.moved.baseline == pytest.approx(0.04, rel=1e-9)


def test_an_aligned_deploy_of_the_version_that_took_the_traffic_ranks_first(
    any_workspace: Workspace, tmp_path: Path
) -> None:
    """A change links through its scope (the version's slice), timed against the move."""
    workspace = any_workspace
    baseline = week_before(CURRENT)
    rows = []
    for period, version, ctr in ((baseline, "v13", 0.04), (CURRENT, "v14", 0.034)):
        t = period.start
        while t < period.end:
            n, d = float(round(100_000 * ctr)), 100_000.0
            rows += [_point("ctr", "", t, n, d), _point("ctr", f"model_version={version}", t, n, d)]
            rows.append(
                {**_point("requests", "", t, 10_000, 1), "numerator": None, "denominator": None, "value": 1e4}
            )
            rows.append(
                {**_point("requests", f"model_version={version}", t, 10_000, 1), "numerator": None,
                 "denominator": None, "value": 1e4}
            )  # fmt: skip
            t += UTC_HOUR
    points = conform(pa.Table.from_pylist(rows))
    starts = sorted(set(points["window_start"].to_pylist()))
    replace_points(workspace.store, "metrics", {"hour": starts}, points, engine="test")
    changes = [
        {
            "ts": (CURRENT.start - 2 * UTC_HOUR).isoformat(),
            "kind": "deploy",
            "target": "ranker",
            "version": "v14",
        },
        {
            "ts": (CURRENT.start - timedelta(days=3)).isoformat(),
            "kind": "config",
            "target": "gateway",
            "version": "c1",
        },
        {"ts": (CURRENT.end + UTC_HOUR).isoformat(), "kind": "config", "target": "gateway", "version": "c2"},
    ]
    ingest_files(workspace.lake, "changes", [write_jsonl(tmp_path / "changes.jsonl", changes)])
    diagnosis = diagnose_metric(
        workspace.store, workspace.lake, workspace.config, "ctr", CURRENT.start, CURRENT.end
    )
    best = diagnosis.hypotheses[0]
    assert (best.kind, best.entity["version"], best.entity["model_version"]) == ("change", "v14", "v14")
    slice_v14 = next(h for h in diagnosis.hypotheses if h.entity.get("slice") == "model_version=v14")
    assert best.score == pytest.approx(slice_v14.score)  # the deploy inherits its slice's evidence ...
    assert diagnosis.hypotheses.index(best) < diagnosis.hypotheses.index(slice_v14)  # ... and ranks first
    old = next(h for h in diagnosis.hypotheses if h.entity.get("version") == "c1")
    assert old.alignment == pytest.approx(0.5 ** ((timedelta(days=3) - timedelta(hours=6)) / ALIGN_HALF_LIFE))
    assert old.link == pytest.approx(0.25)  # an unscoped config change: the prior
    assert all(h.entity.get("version") != "c2" for h in diagnosis.hypotheses)  # after the move: not a cause


def test_unknown_metric_and_bad_period_are_refused(workspace: Workspace) -> None:
    with pytest.raises(NotFound, match="no hour point of 'ctr'"):
        diagnose_metric(workspace.store, workspace.lake, workspace.config, "ctr", CURRENT.start, CURRENT.end)
    with pytest.raises(InvalidInput, match="must end after it starts"):
        diagnose_metric(workspace.store, workspace.lake, workspace.config, "ctr", CURRENT.end, CURRENT.start)
    with pytest.raises(NotFound, match="no alert 99"):
        diagnose_alert(workspace.store, workspace.lake, workspace.config, 99)


# -- the shared arithmetic, against independent calculations -------------------------------------


def _series(values: list[tuple[float, float]], start: datetime) -> Series:
    return Series(
        "m", "", "",
        [Window(start + i * UTC_HOUR, start + (i + 1) * UTC_HOUR, n / d, n, d, int(d)) for i, (n, d) in
         enumerate(values)],
    )  # fmt: skip


def test_shift_of_a_proportion_is_the_pooled_two_proportion_z() -> None:
    base = Period(NOW - 7 * 24 * UTC_HOUR, NOW - 7 * 24 * UTC_HOUR + 3 * UTC_HOUR)
    values = [(40.0, 1000.0), (38.0, 1000.0), (45.0, 1000.0)]
    current = [(30.0, 1000.0), (28.0, 1000.0), (25.0, 1000.0)]
    series = Series("m", "", "", _series(values, base.start).windows + _series(current, NOW).windows)
    moved = shift(series, Period(NOW, NOW + 3 * UTC_HOUR), base)
    assert moved is not None and moved.method == "proportion"
    # Independent: a 2×2 chi-square test without continuity correction has chi2 = z².
    table = np.array([[83, 3000 - 83], [123, 3000 - 123]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert moved.z is not None
    assert moved.z == pytest.approx(-math.sqrt(chi2), rel=1e-9)
    assert moved.p == pytest.approx(p, rel=1e-9)
    assert moved.relative == pytest.approx(83 / 123 - 1)


def test_shift_of_a_level_uses_the_spread_of_the_baseline_windows() -> None:
    base = [100.0, 104.0, 98.0, 101.0, 97.0, 103.0]
    cur = [130.0, 128.0]
    windows = [
        Window(NOW + i * UTC_HOUR, NOW + (i + 1) * UTC_HOUR, v, None, None, 500) for i, v in enumerate(base)
    ]
    later = NOW + 7 * 24 * UTC_HOUR
    windows += [
        Window(later + i * UTC_HOUR, later + (i + 1) * UTC_HOUR, v, None, None, 500)
        for i, v in enumerate(cur)
    ]
    moved = shift(
        Series("latency", "", "", windows),
        Period(later, later + 2 * UTC_HOUR),
        Period(NOW, NOW + 6 * UTC_HOUR),
    )
    assert moved is not None and moved.method == "windows"
    spread = stats.median_abs_deviation(base, scale="normal")
    assert moved.z == pytest.approx((129.0 - float(np.median(base))) / (spread / math.sqrt(2)), rel=1e-3)


def test_association_is_the_weighted_correlation() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.6 * x + rng.normal(scale=0.8, size=40)
    w = rng.uniform(0.5, 2.0, size=40)
    cells = [
        (NOW + i * UTC_HOUR, float(a), float(b), float(c))
        for i, (a, b, c) in enumerate(zip(x, y, w, strict=True))
    ]
    found = association(cells, alpha=0.05)
    assert found is not None
    cov = np.cov(x, y, aweights=w)
    assert found.rho == pytest.approx(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), rel=1e-9)
    z = math.atanh(found.rho) * math.sqrt(40 - 3)
    assert found.p == pytest.approx(stats.norm.sf(z), rel=1e-6)
    assert found.link == pytest.approx(found.rho * max(0.0, 1 - found.p / 0.05))
    assert association(cells[:3], alpha=0.05) is None  # fewer than 4 windows


def test_alignment_and_significance() -> None:
    move = Period(NOW, NOW + 3 * UTC_HOUR)
    assert alignment(NOW - 5 * UTC_HOUR, move) == 1.0
    assert alignment(NOW + UTC_HOUR, move) == 1.0
    assert alignment(NOW + 3 * UTC_HOUR, move) == 0.0
    assert alignment(NOW - 18 * UTC_HOUR, move) == pytest.approx(0.5)
    assert alignment(None, move) == 1.0
    assert significance(0.001, 10, 0.05) == pytest.approx(0.8)
    assert significance(0.01, 10, 0.05) == 0.0


def test_materiality_follows_the_catalog_line() -> None:
    catalog = load_catalog(None)
    base = Period(NOW - 7 * 24 * UTC_HOUR, NOW - 7 * 24 * UTC_HOUR + UTC_HOUR)
    series = Series(
        "m", "", "", _series([(40.0, 1000.0)], base.start).windows + _series([(37.0, 1000.0)], NOW).windows
    )
    moved = shift(series, Period(NOW, NOW + UTC_HOUR), base)
    assert moved is not None
    assert materiality(catalog.get("ctr"), moved, {}) == pytest.approx(0.075 / 0.1)  # -7.5 % of a -10 % line
    assert materiality(catalog.get("stale_feature_share"), moved, {}) == 0.0  # a fall is not bad there
    stale = Series(
        "m", "", "", _series([(0.0, 1000.0)], base.start).windows + _series([(30.0, 1000.0)], NOW).windows
    )
    up = shift(stale, Period(NOW, NOW + UTC_HOUR), base)
    assert up is not None
    assert materiality(catalog.get("stale_feature_share"), up, {}) == pytest.approx(0.03 / 0.05)


# -- the command line ----------------------------------------------------------------------------


def test_cli_diagnose_alert_json_matches_the_library(
    ws: Workspace, world: tuple[Path, dict[str, Any]]
) -> None:
    alert = first_alert(ws, world[1]["stale_feature_group"], "freshness")
    expected = diagnose_alert(ws.store, ws.lake, ws.config, alert.id).to_json()
    result = CliRunner().invoke(
        build_app(["diagnose"]), ["diagnose", "--alert", str(alert.id), "--json", "-w", str(world[0])]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["alert"]["id"] == alert.id
    assert [h["entity"] for h in data["hypotheses"]] == [h["entity"] for h in expected["hypotheses"]]
    assert data["hypotheses"][0]["entity"]["feature_group"] == "session_context"


def test_cli_diagnose_metric_text_and_json(world: tuple[Path, dict[str, Any]]) -> None:
    incident = world[1]["latency_regression"]
    args = ["diagnose", "--metric", "latency_p99_ms", "--from", incident["start"], "--to", incident["end"],
            "-w", str(world[0])]  # fmt: skip
    text = CliRunner().invoke(build_app(["diagnose"]), [*args, "--top", "3"])
    assert text.exit_code == 0, text.output
    assert "stage=ranking" in text.output and "surface=home_row" in text.output
    assert "more with --top" in text.output and "scored 0 (all in --json)" in text.output
    data = json.loads(CliRunner().invoke(build_app(["diagnose"]), [*args, "--json"]).output)
    assert data["move"]["metric"] == "latency_p99_ms"
    assert data["hypotheses"][0]["entity"]["stage"] == "ranking"


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(["diagnose"]), list(args))
    if isinstance(result.exception, RecopsError):
        return result.exception.exit_code, result.stdout, str(result.exception)
    return result.exit_code, result.stdout, result.stderr


def test_cli_diagnose_refuses_bad_usage(world: tuple[Path, dict[str, Any]]) -> None:
    root = str(world[0])
    code, _, message = _cli("diagnose", "--alert", "1", "--metric", "ctr", "-w", root)
    assert code == 2 and "one of them" in message
    code, _, message = _cli("diagnose", "--metric", "ctr", "--from", "2026-10-01", "-w", root)
    assert code == 2 and "--from and --to" in message
    code, _, message = _cli("diagnose", "--alert", "100000", "-w", root)
    assert code == 2 and "no alert 100000" in message
