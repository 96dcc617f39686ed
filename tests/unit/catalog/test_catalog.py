"""The metric catalog: built-in definitions, user files, errors, the docs and the CLI."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recops.catalog import FAMILIES, GRANULARITIES, UNITS, Catalog, load_catalog
from recops.catalog.definitions import DIRECTIONS, builtin_definitions, builtin_path
from recops.catalog.reference import render_reference, splice
from recops.cli import metrics as metrics_cli
from recops.cli import output
from recops.config import CONFIG_FILE, DEFAULT_CONFIG
from recops.errors import ConfigError, InvalidInput, WorkspaceNotFound

DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"

# The names the monitor families emit (issue 5); the catalog must define exactly these.
EXPECTED = {
    "arrival": {
        "arrival_rows", "arrival_delay_minutes", "late_partitions", "missing_partitions", "schema_changes",
    },
    "quality": {"check_violation_rate"},
    "drift": {"feature_drift", "feature_drift_ratio", "training_serving_skew", "feature_null_rate"},
    "freshness": {
        "feature_age_p95_hours",
        "stale_feature_share",
        "materialization_lag_p95_minutes",
        "hours_since_materialization",
    },
    "metrics": {
        "requests", "impressions", "ctr", "play_rate", "completion_rate", "watch_time_per_request",
        "ndcg_at_10", "recall_at_10", "catalog_coverage", "intra_list_diversity", "popularity_gini",
        "novelty", "cold_start_share", "empty_slate_rate", "fallback_rate", "error_rate",
        "candidate_source_share", "score_mean", "score_p50", "score_p90", "calibration_ratio",
    },
    "latency": {
        "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_slo_bad_share",
        "latency_burn_rate", "error_burn_rate", "error_budget_remaining",
    },
}  # fmt: skip
VIEWS = ("requests", "outcomes", "candidates", "feature_rows", "arrivals")
SLICE_DIMENSIONS = {"surface", "model_version", "context keys"}


# ─── built-in catalog ─────────────────────────────────────────────────────────────────


def test_builtin_catalog_has_exactly_the_expected_metrics_by_family() -> None:
    catalog = load_catalog(None)
    assert {f: {d.name for d in catalog.by_family(f)} for f in FAMILIES} == EXPECTED
    assert len(catalog.names()) == len(set(catalog.names())) == sum(map(len, EXPECTED.values()))
    assert catalog.names()[0] == "arrival_rows"  # family order, then file order
    assert all(d.origin == "builtin" for d in catalog)


def test_every_builtin_field_is_valid() -> None:
    slo_targets = tomllib.loads(DEFAULT_CONFIG)["slo"]
    for d in builtin_definitions():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", d.name), d.name
        assert d.family in FAMILIES and d.unit in UNITS and d.direction in DIRECTIONS, d.name
        assert d.title and d.why and d.owner == "ml-platform", d.name
        assert d.why.count(". ") <= 2, f"{d.name}: why is one or two sentences"
        assert any(re.search(rf"\b{v}\b", d.expression) for v in VIEWS), d.name
        assert (
            set(d.slices) <= SLICE_DIMENSIONS
            and d.granularities
            and set(d.granularities) <= set(GRANULARITIES)
        )
        # Every threshold, and every missing one, is explained.
        assert d.threshold_reason, f"{d.name}: threshold_reason"
        if d.threshold is not None:
            value = d.threshold_value(slo_targets)
            assert value is not None
            if d.threshold.relative:
                # a rate's move is judged by its numerator/denominator, a latency's by its log
                # spread (monitors.thresholds.log_z): no other unit has a noise model yet
                assert d.unit in ("ratio", "ms"), f"{d.name}: no noise model for a relative {d.unit}"
                assert d.threshold.baseline and d.threshold.min_z
        if d.slo is not None:
            assert d.slo in slo_targets, f"{d.name}: [slo] {d.slo} is not in the default config"
        # Outcome-based values carry label completeness, and only those.
        sql = re.sub(r"--[^\n]*", "", d.expression)
        assert d.labels == bool(re.search(r"\boutcomes\b", sql)), d.name


def test_thresholds_that_the_issue_names() -> None:
    catalog = load_catalog(None)
    ctr = catalog.get("ctr").threshold
    assert ctr is not None and (ctr.kind, ctr.value, ctr.baseline, ctr.min_z) == (
        "relative_drop",
        0.1,
        "same_weekday_4w",
        4.0,
    )
    p99 = catalog.get("latency_p99_ms")
    assert p99.slo == "latency_p99_ms" and p99.threshold_value({"latency_p99_ms": 250.0}) == 250.0
    assert catalog.get("error_rate").slo == "error_rate"
    assert catalog.get("stale_feature_share").threshold_value({}) == 0.05
    for name in ("feature_drift_ratio", "training_serving_skew"):
        assert catalog.get(name).threshold_value({}) == 1.0
    for name in ("late_partitions", "missing_partitions", "schema_changes", "check_violation_rate"):
        threshold = catalog.get(name).threshold
        assert threshold is not None and (threshold.kind, threshold.value) == ("above", 0.0)
    subjects = {d.name: d.subject for d in catalog}
    assert subjects["arrival_rows"] == "source" and subjects["feature_drift"] == "feature"
    assert subjects["stale_feature_share"] == "feature group" and subjects["ctr"] == ""
    assert subjects["candidate_source_share"] == "candidate source"


def test_slo_threshold_needs_the_config_key() -> None:
    with pytest.raises(ConfigError, match=r"missing SLO.*slo\.latency_p99_ms"):
        load_catalog(None).get("latency_p99_ms").threshold_value({})


def test_unknown_name_lists_close_matches() -> None:
    catalog = load_catalog(None)
    with pytest.raises(InvalidInput, match=r"unknown metric 'latency_p99'.*latency_p99_ms") as info:
        catalog.get("latency_p99")
    assert info.type is InvalidInput
    with pytest.raises(InvalidInput, match="metrics list"):
        catalog.get("zzzz")
    with pytest.raises(InvalidInput, match="unknown metric family 'latencies'"):
        catalog.by_family("latencies")
    assert "ctr" in catalog and "nope" not in catalog and len(catalog) == len(list(catalog))


def test_builtin_yaml_is_package_data() -> None:
    assert Path(builtin_path()).name == "builtin.yaml" and Path(builtin_path()).is_file()


def test_docs_reference_is_generated_from_the_yaml() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert splice(text, render_reference(builtin_definitions())) == text, (
        "docs/metrics.md is stale: python -m recops.catalog.reference docs/metrics.md"
    )
    for d in builtin_definitions():
        assert f"#### {d.name}\n" in text


# ─── user metrics ─────────────────────────────────────────────────────────────────────

USER_METRIC = """\
- name: kids_profile_ctr
  family: metrics
  title: CTR on kids profiles
  unit: ratio
  direction: down_is_bad
  labels: true
  slices: [surface]
  granularities: [day]
  expression: |
    SELECT count(*) FROM outcomes
  why: Kids profiles see a filtered catalog.
  threshold: {kind: relative_drop, value: 0.15}
  threshold_reason: Kids traffic is small.
  owner: kids-experience
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / "metrics" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_user_metric_is_added_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "kids.yaml", USER_METRIC)
    catalog = load_catalog(tmp_path)
    kids = catalog.get("kids_profile_ctr")
    assert kids.origin == str(path) and kids.owner == "kids-experience" and kids.labels
    assert kids.slices == ("surface",) and kids.granularities == ("day",)
    assert kids.threshold is not None and kids.threshold.baseline == "same_weekday_4w"
    assert kids.threshold.min_z == 4.0
    assert catalog.by_family("metrics")[-1].name == "kids_profile_ctr"
    assert len(catalog) == len(builtin_definitions()) + 1


def test_user_definition_overrides_a_builtin_key_by_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "overrides.yml",
        "- name: ctr\n  owner: growth\n  threshold: {kind: relative_drop, value: 0.05, min_z: 6}\n"
        "- name: latency_p99_ms\n  threshold: null\n  threshold_reason: paged by burn rate only\n",
    )
    catalog = load_catalog(tmp_path)
    builtin = load_catalog(None).get("ctr")
    ctr = catalog.get("ctr")
    assert ctr.owner == "growth" and ctr.origin == str(path)
    assert ctr.threshold is not None and (ctr.threshold.value, ctr.threshold.min_z) == (0.05, 6.0)
    assert (ctr.expression, ctr.why, ctr.labels) == (builtin.expression, builtin.why, builtin.labels)
    assert catalog.get("latency_p99_ms").threshold is None
    assert len(catalog) == len(builtin_definitions())
    assert catalog.names() == load_catalog(None).names()  # overriding keeps the order
    assert load_catalog(str(tmp_path)).get("ctr").owner == "growth"  # a path as text works too


def test_empty_or_missing_user_folder(tmp_path: Path) -> None:
    assert len(load_catalog(tmp_path)) == len(builtin_definitions())
    write(tmp_path, "empty.yaml", "# nothing yet\n")
    (tmp_path / "metrics" / "notes.txt").write_text("not a metric file")
    assert len(load_catalog(tmp_path)) == len(builtin_definitions())


NEW = "- name: my_metric\n  family: metrics\n  title: T\n  unit: ratio\n  direction: up_is_bad\n"
NEW += "  expression: SELECT 1 FROM requests\n  why: Because.\n"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (NEW + "  colour: red\n", "my_metric.colour", "unknown key"),
        (NEW.replace("unit: ratio", "unit: percent"), "my_metric.unit", "must be one of ratio"),
        (NEW.replace("family: metrics", "family: metric"), "my_metric.family", "did you mean 'metrics'"),
        (NEW.replace("direction: up_is_bad", "direction: up"), "my_metric.direction", "up_is_bad"),
        (NEW.replace("  why: Because.\n", ""), "my_metric.why", "is required"),
        (NEW.replace("title: T", "title: ''"), "my_metric.title", "must not be empty"),
        (NEW.replace("my_metric", "MyMetric"), "MyMetric.name", "snake_case"),
        (NEW + "  labels: sometimes\n", "my_metric.labels", "true or false"),
        (NEW + "  slices: surface\n", "my_metric.slices", "list"),
        (NEW + "  granularities: [minute]\n", "my_metric.granularities", "5min, hour, day"),
        (NEW + "  granularities: []\n", "my_metric.granularities", "at least one"),
        (NEW + "  threshold: 0.5\n", "my_metric.threshold", "mapping"),
        (NEW + "  threshold: {kind: over, value: 1}\n", "my_metric.threshold.kind", "above, below"),
        (NEW + "  threshold: {kind: above, value: high}\n", "my_metric.threshold.value", "finite number"),
        (NEW + "  threshold: {kind: above, value: slo}\n", "my_metric.threshold.value", "names no slo"),
        (NEW + "  threshold: {kind: above, value: 1, min_z: 3}\n", "my_metric.threshold.min_z", "relative"),
        (NEW + "  threshold: {kind: relative_drop, value: 1.5}\n", "my_metric.threshold.value", "in (0, 1)"),
        (NEW + "  threshold: {kind: above, value: 1, evidence: requests}\n", "my_metric.threshold.quantile",
         "required"),
        (NEW + "  threshold: {kind: above, value: 1, evidence: requests, quantile: 99}\n",
         "my_metric.threshold.quantile", "(0, 1)"),
        (NEW + "  threshold: {kind: above, value: 1, evidence: Bad-Share, quantile: 0.99}\n",
         "my_metric.threshold.evidence", "metric name"),
        (NEW + "  threshold: {kind: relative_rise, value: 1, quantile: 0.99}\n",
         "my_metric.threshold.quantile", "static"),
        (NEW + "  threshold: {kind: relative_rise, value: 1, baseline: last_week}\n",
         "my_metric.threshold.baseline", "same_weekday_4w"),
        (NEW + "  threshold: {kind: relative_rise, value: 1, window: 7}\n", "my_metric.threshold.window",
         "unknown key"),
        (NEW + "  slo: Latency\n", "my_metric.slo", "[slo]"),
        ("- name: ctr\n  unit: percent\n", "ctr.unit", "metric 'ctr'"),
        ("- just a string\n", "#1", "mapping of keys"),
        ("- family: metrics\n", "#1.name", "is required"),
    ],
)  # fmt: skip
def test_bad_user_definitions_name_file_metric_and_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_catalog(tmp_path)
    error = info.value
    assert error.path == str(path) and error.key == key, str(error)
    assert message in str(error) and str(path) in str(error) and key in str(error)
    metric = key.split(".")[0]
    assert f"metric {metric!r}" in str(error) or f"metric {metric}" in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [("name: ctr\nunit: ratio\n", "YAML list"), ("- name: [unclosed\n", "not valid YAML")],
)
def test_bad_user_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "broken.yaml", text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_catalog(tmp_path)
    assert info.value.path == str(path)


def test_two_user_files_may_not_define_the_same_metric(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", USER_METRIC)
    second = write(tmp_path, "b.yaml", USER_METRIC)
    with pytest.raises(ConfigError, match=f"also defined in {re.escape(str(first))}") as info:
        load_catalog(tmp_path)
    assert info.value.path == str(second) and info.value.key == "kids_profile_ctr.name"


def test_catalog_refuses_duplicates() -> None:
    ctr = load_catalog(None).get("ctr")
    with pytest.raises(InvalidInput, match="defined twice"):
        Catalog([ctr, ctr])


def test_catalog_refuses_evidence_it_does_not_hold() -> None:
    p99 = load_catalog(None).get("latency_p99_ms")
    assert p99.threshold is not None and p99.threshold.evidence == "latency_slo_bad_share"
    with pytest.raises(InvalidInput, match="'latency_slo_bad_share', which is not in the catalog"):
        Catalog([p99])


# ─── CLI ──────────────────────────────────────────────────────────────────────────────

runner = CliRunner()


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder is in no workspace."""
    monkeypatch.delenv("RECOPS_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / CONFIG_FILE).write_text(
        DEFAULT_CONFIG.replace("latency_p99_ms = 250.0", "latency_p99_ms = 300.0")
    )
    write(root, "kids.yaml", USER_METRIC)
    return root


def test_cli_list_json_outside_a_workspace(outside: Path) -> None:
    result = runner.invoke(metrics_cli.app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == load_catalog(None).names()
    ctr = next(r for r in rows if r["name"] == "ctr")
    assert ctr["threshold"] == {
        "kind": "relative_drop",
        "value": 0.1,
        "baseline": "same_weekday_4w",
        "min_z": 4.0,
    }
    p99 = next(r for r in rows if r["name"] == "latency_p99_ms")
    assert (
        p99["threshold"]
        == {
            "kind": "above",
            "value": "slo",
            "min_n": 1000,
            "quantile": 0.99,
            "evidence": "latency_slo_bad_share",
            "min_z": 4.0,
        }
        and p99["slo"] == "latency_p99_ms"
    )
    assert set(ctr) >= {"name", "family", "unit", "direction", "expression", "slices", "slo", "owner", "why"}


def test_cli_list_family_filter_and_table(outside: Path) -> None:
    result = runner.invoke(metrics_cli.app, ["list", "--family", "latency", "--json"])
    assert result.exit_code == 0
    assert {r["name"] for r in json.loads(result.stdout)} == EXPECTED["latency"]
    table = runner.invoke(metrics_cli.app, ["list", "-f", "arrival"], env={"COLUMNS": "200"})
    assert table.exit_code == 0
    assert "late_partitions" in table.stdout and "above 0" in table.stdout and "ctr" not in table.stdout
    bad = runner.invoke(metrics_cli.app, ["list", "--family", "nope"])
    assert isinstance(bad.exception, InvalidInput) and "arrival, quality" in str(bad.exception)


def test_cli_with_a_workspace_shows_user_metrics_and_slo_targets(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The console is created once per process, so COLUMNS alone cannot widen it here.
    monkeypatch.setattr(output.console, "width", 200)
    result = runner.invoke(metrics_cli.app, ["list", "-w", str(ws), "--json"])
    assert result.exit_code == 0, result.output
    names = [r["name"] for r in json.loads(result.stdout)]
    assert "kids_profile_ctr" in names
    table = runner.invoke(metrics_cli.app, ["list", "-w", str(ws), "-f", "metrics"], env={"COLUMNS": "200"})
    assert "metrics/kids.yaml" in table.stdout
    explained = runner.invoke(metrics_cli.app, ["explain", "latency_p99_ms", "-w", str(ws), "--json"])
    assert json.loads(explained.stdout)["slo_target"] == 300.0
    human = runner.invoke(
        metrics_cli.app, ["explain", "latency_p99_ms", "-w", str(ws)], env={"COLUMNS": "200"}
    )
    assert (
        "slo.latency_p99_ms = 300 in recops.toml" in human.stdout
        and "above slo latency_p99_ms (300)" in human.stdout
    )


def test_cli_explain(outside: Path) -> None:
    result = runner.invoke(metrics_cli.app, ["explain", "ctr", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {**load_catalog(None).get("ctr").to_dict(), "slo_target": None}
    human = runner.invoke(metrics_cli.app, ["explain", "ndcg_at_10"], env={"COLUMNS": "200"})
    assert human.exit_code == 0
    for text in (
        "ndcg_at_10: NDCG@10",
        "Why it matters",
        "Why no threshold",
        "Expression",
        "log2(c.position + 2)",
    ):
        assert text in human.stdout, text
    unknown = runner.invoke(metrics_cli.app, ["explain", "ctrr"])
    assert isinstance(unknown.exception, InvalidInput) and "did you mean ctr" in str(unknown.exception)
    assert unknown.exception.exit_code == 2


def test_cli_named_workspace_must_exist(outside: Path) -> None:
    result = runner.invoke(metrics_cli.app, ["list", "-w", str(outside / "nowhere")])
    assert isinstance(result.exception, WorkspaceNotFound)


def test_cli_bad_user_file_is_a_config_error(ws: Path) -> None:
    write(ws, "zz.yaml", "- name: ctr\n  unit: percent\n")
    result = runner.invoke(metrics_cli.app, ["list", "-w", str(ws)])
    assert isinstance(result.exception, ConfigError) and "zz.yaml" in str(result.exception)


def test_a_non_string_name_is_refused_not_crashed(tmp_path: Path) -> None:
    write(tmp_path, "odd.yaml", "- name: [ctr]\n  family: metrics\n")
    with pytest.raises(ConfigError, match="must be a string") as info:
        load_catalog(tmp_path)
    assert info.value.key == "#1.name"
