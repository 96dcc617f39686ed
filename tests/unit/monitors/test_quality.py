"""Quality family: every check type against plain DuckDB SQL on the lake, and the YAML errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recops.errors import ConfigError
from recops.monitors import read_series, run_monitors
from recops.monitors.checks import default_checks, load_checks, parse_checks
from recops.workspace import Workspace

CHECKS = """
checks:
  - name: score_not_null
    table: candidates
    type: not_null
    column: score
  - name: latency_under_200
    table: requests
    type: range
    column: latency_ms
    min: 0
    max: 200
  - name: session_depth_small
    table: requests
    type: range
    column: features.session_depth
    max: 3
  - name: device_values
    table: requests
    type: accepted_values
    column: context.device
    values: [tv, ios, android]
  - name: outcome_request_unique
    table: outcomes
    type: unique
    column: request_id
  - name: position_null_rate_low
    table: candidates
    type: null_rate
    column: position
    max: 0.3
  - name: position_null_rate_high
    table: candidates
    type: null_rate
    column: position
    max: 0.9
  - name: users_per_window
    table: requests
    type: cardinality
    column: user_id
    max: 150
  - name: outcome_joins_request
    table: outcomes
    type: references
    column: request_id
    to: {table: requests, column: request_id}
  - name: item_known
    table: candidates
    type: references
    column: item_id
    to: {table: feature_rows, column: entity_id, where: {feature_group: item_stats}}
  - name: item_known_loose
    table: candidates
    type: references
    column: item_id
    to: {table: feature_rows, column: entity_id, where: {feature_group: item_stats}}
    max_rate: 0.5
  - name: row_count_range
    table: arrivals
    type: range
    column: row_count
    min: 400
  - name: feature_group_values
    table: feature_rows
    type: accepted_values
    column: feature_group
    values: [user_profile, item_stats]
  - name: change_version_present
    table: changes
    type: not_null
    column: version
"""

# Rows of each check table with the columns the slices and checks need (plain DuckDB SQL).
FROM = {
    "requests": "SELECT *, ts AS _t FROM requests",
    "candidates": "SELECT r.ts AS _t, r.surface, r.model_version, r.context, c.item_id, c.score, c.position "
    "FROM (SELECT *, unnest(candidates) AS c FROM requests) AS r",
    "outcomes": "SELECT *, ts AS _t FROM outcomes",
    "arrivals": "SELECT *, landed_at AS _t FROM arrivals",
    "feature_rows": "SELECT *, materialized_at AS _t FROM feature_rows",
    "changes": "SELECT *, ts AS _t FROM changes",
}
ITEMS = "(SELECT entity_id FROM feature_rows WHERE feature_group = 'item_stats')"

# check -> (table, SQL giving (numerator, denominator) over the window's rows `w`)
ROW_SQL = {
    "score_not_null": ("candidates", "SELECT count(*) FILTER (WHERE score IS NULL), count(*) FROM w"),
    "latency_under_200": (
        "requests",
        "SELECT count(*) FILTER (WHERE latency_ms < 0 OR latency_ms > 200), count(latency_ms) FROM w",
    ),
    "session_depth_small": (
        "requests",
        "SELECT count(*) FILTER (WHERE features['session_depth'] > 3), "
        "count(features['session_depth']) FROM w",
    ),
    "device_values": (
        "requests",
        "SELECT count(*) FILTER (WHERE context['device'] NOT IN ('tv', 'ios', 'android')), "
        "count(context['device']) FROM w",
    ),
    "outcome_request_unique": (
        "outcomes",
        "SELECT coalesce(sum(n) FILTER (WHERE n > 1), 0), sum(n) "
        "FROM (SELECT request_id, count(*) AS n FROM w GROUP BY request_id)",
    ),
    "position_null_rate_low": (
        "candidates",
        "SELECT count(*) FILTER (WHERE position IS NULL), count(*) FROM w",
    ),
    "position_null_rate_high": (
        "candidates",
        "SELECT count(*) FILTER (WHERE position IS NULL), count(*) FROM w",
    ),
    "users_per_window": ("requests", "SELECT count(DISTINCT user_id), count(*) FROM w"),
    "outcome_joins_request": (
        "outcomes",
        "SELECT count(*) FILTER (WHERE request_id NOT IN (SELECT request_id FROM requests)), count(*) FROM w",
    ),
    "item_known": ("candidates", f"SELECT count(*) FILTER (WHERE item_id NOT IN {ITEMS}), count(*) FROM w"),
    "item_known_loose": (
        "candidates",
        f"SELECT count(*) FILTER (WHERE item_id NOT IN {ITEMS}), count(*) FROM w",
    ),
    "row_count_range": ("arrivals", "SELECT count(*) FILTER (WHERE row_count < 400), count(*) FROM w"),
    "feature_group_values": (
        "feature_rows",
        "SELECT count(*) FILTER (WHERE feature_group NOT IN ('user_profile', 'item_stats')), count(*) FROM w",
    ),
    "change_version_present": ("changes", "SELECT count(*) FILTER (WHERE version IS NULL), count(*) FROM w"),
}


def _verdict(name: str, num: float, den: float) -> float:
    """The expected value: the row ratio, or 1/0 for the set-level checks."""
    if name == "position_null_rate_low":
        return float(num / den > 0.3)
    if name == "position_null_rate_high":
        return float(num / den > 0.9)
    if name == "users_per_window":
        return float(num > 150)
    if name == "item_known_loose":
        return float(num / den > 0.5)
    return num / den


def _slice_predicate(label: str) -> str:
    if not label:
        return "TRUE"
    key, value = label.split("=", 1)
    column = key if key in ("surface", "model_version") else f"context['{key}']"
    if value == "(none)":
        return f"{column} IS NULL"
    return f"{column} = '{value}'"


def _expected(con: duckdb.DuckDBPyConnection, name: str, point: dict[str, Any]) -> tuple[float, float]:
    table, sql = ROW_SQL[name]
    window = (
        f"WITH w AS (SELECT * FROM hand_{table} WHERE _t >= $start AND _t < $end "
        f"AND {_slice_predicate(point['slice'])}) "
    )
    row = con.execute(window + sql, {"start": point["window_start"], "end": point["window_end"]}).fetchone()
    assert row is not None
    return float(row[0] or 0), float(row[1] or 0)


@pytest.fixture
def checked(world_ws: Workspace) -> Workspace:
    (world_ws.config.root / "checks.yaml").write_text(CHECKS, encoding="utf-8")
    run_monitors(world_ws.config, world_ws.lake, only=["quality"])
    return world_ws


def test_every_check_matches_hand_sql(checked: Workspace) -> None:
    con = checked.lake.connect()
    for table, sql in FROM.items():
        con.execute(f"CREATE TEMP TABLE hand_{table} AS {sql}")
    points = read_series(checked.store, "check_violation_rate").to_pylist()
    by_check: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        by_check.setdefault(p["subject"], []).append(p)
    assert set(by_check) == set(ROW_SQL)
    compared = 0
    for name, rows in sorted(by_check.items()):
        # Every day point (all slices) and every third all-traffic hour point.
        hours = sorted(p["window_start"] for p in rows if p["granularity"] == "hour" and p["slice"] == "")
        sampled = set(hours[::3])
        chosen = [
            p
            for p in rows
            if p["granularity"] == "day" or (p["slice"] == "" and p["window_start"] in sampled)
        ]
        assert chosen, name
        for p in chosen:
            num, den = _expected(con, name, p)
            assert (p["numerator"], p["denominator"], p["n"]) == (num, den, den), (name, p)
            assert p["value"] == pytest.approx(_verdict(name, num, den), rel=1e-12, abs=0), (name, p)
            compared += 1
    assert compared > 400
    con.close()


def test_slicing_follows_the_table(checked: Workspace) -> None:
    points = read_series(checked.store, "check_violation_rate", granularity="day").to_pylist()
    slices: dict[str, set[str]] = {}
    for p in points:
        slices.setdefault(p["subject"], set()).add(p["slice"])
    # Request and candidate checks are cut by surface, model version and context keys ...
    for name in ("score_not_null", "device_values", "users_per_window", "item_known"):
        assert {"", "surface=home_row", "model_version=v12", "device=tv"} <= slices[name], name
        assert any(s.startswith("country=") for s in slices[name])
    # ... other tables and unique checks give the all-traffic value only.
    for name in (
        "outcome_request_unique",
        "outcome_joins_request",
        "row_count_range",
        "feature_group_values",
    ):
        assert slices[name] == {""}, name


def test_violations_are_real_in_this_world(checked: Workspace) -> None:
    """Sanity of the fixture: the checks above both pass and fail somewhere."""
    values: dict[str, set[float]] = {}
    for p in read_series(checked.store, "check_violation_rate", slice="").to_pylist():
        values.setdefault(p["subject"], set()).add(p["value"])
    assert values["outcome_joins_request"] == {0.0}
    assert values["position_null_rate_low"] == {1.0}
    assert values["position_null_rate_high"] == {0.0}
    assert max(values["latency_under_200"]) > 0
    assert max(values["item_known"]) > 0
    assert max(values["outcome_request_unique"]) > 0


def test_references_wait_for_the_target_table(world_ws: Workspace) -> None:
    """A window is judged once the referenced table's newest time is 15 minutes past its end."""
    (world_ws.config.root / "checks.yaml").write_text(
        """
checks:
  - name: source_is_an_arrival
    table: candidates
    type: references
    column: source
    to: {table: arrivals, column: source}
""",
        encoding="utf-8",
    )
    run_monitors(world_ws.config, world_ws.lake, only=["quality"])
    con = world_ws.lake.connect()
    row = con.execute("SELECT epoch_us(max(landed_at)) FROM arrivals").fetchone()
    assert row is not None
    newest = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=row[0])
    con.close()
    hours = read_series(world_ws.store, "check_violation_rate", granularity="hour", slice="").to_pylist()
    assert hours and all(p["value"] == 1.0 for p in hours)
    assert max(p["window_end"] for p in hours) + timedelta(minutes=15) <= newest
    # The next hour would end too close to the newest arrival: not judged yet.
    last = max(p["window_end"] for p in hours)
    assert last + timedelta(hours=1) + timedelta(minutes=15) > newest


def test_defaults_without_a_checks_file(world_ws: Workspace) -> None:
    assert not (world_ws.config.root / "checks.yaml").exists()
    names = [c.name for c in load_checks(world_ws.config)]
    assert names == [
        "request_latency_range",
        "request_id_unique",
        "outcome_joins_request",
        "candidate_item_known",
    ]
    no_items = dataclasses.replace(world_ws.config, feature_groups={})
    assert "candidate_item_known" not in [c.name for c in default_checks(no_items)]
    run_monitors(world_ws.config, world_ws.lake, only=["quality"])
    points = read_series(world_ws.store, "check_violation_rate", slice="").to_pylist()
    values: dict[str, set[float]] = {}
    for p in points:
        values.setdefault(p["subject"], set()).add(p["value"])
    assert values["request_latency_range"] == {0.0}
    assert values["request_id_unique"] == {0.0}
    assert values["outcome_joins_request"] == {0.0}


def test_empty_checks_file_turns_checks_off(world_ws: Workspace) -> None:
    (world_ws.config.root / "checks.yaml").write_text("checks: []\n", encoding="utf-8")
    report = run_monitors(world_ws.config, world_ws.lake, only=["quality"])
    assert report.points.get("quality", 0) == 0


def test_checks_path_is_configurable(world_ws: Workspace, tmp_path: Path) -> None:
    (world_ws.config.root / "quality").mkdir()
    (world_ws.config.root / "quality" / "mine.yaml").write_text(
        "checks:\n  - {name: lat, table: requests, type: not_null, column: latency_ms}\n", encoding="utf-8"
    )
    config = dataclasses.replace(
        world_ws.config, monitors=dataclasses.replace(world_ws.config.monitors, checks="quality/mine.yaml")
    )
    assert [c.name for c in load_checks(config)] == ["lat"]


REF = "checks:\n  - {name: a, table: outcomes, type: references, column: request_id,"
BAD: list[tuple[str, str, str]] = [
    # (YAML, expected key in the message, expected words)
    ("checks: {a: 1}", "key checks", "list of checks"),
    ("nope: []", "key checks", "one key"),
    ("checks:\n  - [1, 2]", "checks[0]", "mapping"),
    ("checks:\n  - {table: requests, type: not_null, column: ts}", "checks[0].name", "name"),
    ("checks:\n  - {name: a, table: requests, type: nonsense, column: ts}", "checks.a.type", "not_null"),
    ("checks:\n  - {name: a, table: request, type: not_null, column: ts}", "checks.a.table", "requests"),
    (
        "checks:\n  - {name: a, table: requests, type: not_null, column: latency}",
        "checks.a.column",
        "no column",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: not_null, column: ts, max: 3}",
        "checks.a.max",
        "unknown key",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: range, column: surface, max: 3}",
        "checks.a.column",
        "numeric",
    ),
    ("checks:\n  - {name: a, table: requests, type: range, column: latency_ms}", "checks.a.min", "min, max"),
    (
        "checks:\n  - {name: a, table: requests, type: range, column: latency_ms, min: 5, max: 1}",
        "checks.a.max",
        "at least",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: range, column: latency_ms, max: ten}",
        "checks.a.max",
        "number",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: null_rate, column: surface, max: 2}",
        "checks.a.max",
        "between 0 and 1",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: cardinality, column: surface, max: 1.5}",
        "checks.a.max",
        "whole",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: accepted_values, column: surface, values: [1]}",
        "checks.a.values",
        "strings",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: accepted_values, column: surface, values: []}",
        "checks.a.values",
        "non-empty",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: not_null, column: context}",
        "checks.a.column",
        "context.KEY",
    ),
    (
        "checks:\n  - {name: a, table: outcomes, type: references, column: request_id}",
        "checks.a.to",
        "mapping",
    ),
    (
        f"{REF} to: {{table: requests, column: latency_ms}}}}",
        "checks.a.to.column",
        "holds",
    ),
    (
        f"{REF} to: {{table: requests, column: request_id, when: 1}}}}",
        "checks.a.to.when",
        "unknown key",
    ),
    (
        f"{REF} to: {{table: requests, column: request_id, where: {{surface: 3}}}}}}",
        "checks.a.to.where.surface",
        "holds",
    ),
    (
        "checks:\n  - {name: a, table: requests, type: not_null, column: ts}"
        "\n  - {name: a, table: requests, type: not_null, column: ts}",
        "checks.a.name",
        "twice",
    ),
    ("checks: [\n", "", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "key", "words"), BAD)
def test_bad_yaml_names_file_check_and_key(text: str, key: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    with pytest.raises(ConfigError) as info:
        parse_checks(text, path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert words in message


def test_bad_checks_file_fails_the_run(world_ws: Workspace) -> None:
    path = world_ws.config.root / "checks.yaml"
    path.write_text(
        "checks:\n  - {name: lat, table: requests, type: range, column: latency_ms}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"checks\.lat\.min"):
        run_monitors(world_ws.config, world_ws.lake, only=["quality"])


def test_map_entries_and_where(tmp_path: Path) -> None:
    checks = parse_checks(
        """
checks:
  - {name: a, table: requests, type: range, column: features.sessions_7d, min: 0}
  - {name: b, table: feature_rows, type: null_rate, column: values.item_ctr_7d, max: 0.1}
  - name: c
    table: candidates
    type: references
    column: item_id
    to: {table: feature_rows, column: entity_id, where: {feature_group: item_stats}}
""",
        tmp_path / "x.yaml",
    )
    assert (checks[0].column.column, checks[0].column.key) == ("features", "sessions_7d")
    assert checks[1].set_level and checks[1].maximum == 0.1
    assert checks[2].to is not None and checks[2].to.where == (("feature_group", "item_stats"),)
    assert checks[2].sliced and not checks[1].sliced


def test_days_summed_from_hours_equal_days_queried(checked: Workspace) -> None:
    """A run that computed every hour of a day sums its hours; a partial run queries the day."""
    full = {
        (p["subject"], p["slice"], p["window_start"]): (p["value"], p["numerator"], p["denominator"])
        for p in read_series(checked.store, "check_violation_rate", granularity="day").to_pylist()
    }
    day = min(start for _, _, start in full)
    # Only the last 19 hours of the first day are planned as hours: the day is queried whole.
    run_monitors(
        checked.config,
        checked.lake,
        only=["quality"],
        start=day + timedelta(hours=5),
        end=day + timedelta(days=1),
    )
    again = {
        (p["subject"], p["slice"], p["window_start"]): (p["value"], p["numerator"], p["denominator"])
        for p in read_series(
            checked.store, "check_violation_rate", granularity="day", start=day, end=day + timedelta(days=1)
        ).to_pylist()
    }
    assert again and again == {k: v for k, v in full.items() if k[2] == day}


@pytest.mark.parametrize(("k", "n"), [(3, 40), (400, 4000), (0, 25), (25, 25), (7, 1000)])
def test_rate_limits_need_evidence_wilson_bound_matches_scipy(k: int, n: int) -> None:
    from scipy.stats import binomtest

    from recops.monitors.families.quality import wilson_lower

    # A two-sided 98% Wilson interval has the one-sided 99% lower bound.
    expected = binomtest(k, n).proportion_ci(confidence_level=0.98, method="wilson").low
    assert wilson_lower(k, n) == pytest.approx(expected, abs=1e-4)
