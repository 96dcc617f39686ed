"""The drift family's reference: the trailing days that did not drift themselves.

An incident inside the reference days must not make the healthy days after it read as
drifted (the reference leaves out days whose own ``feature_drift_ratio`` was at or above
1), while a change that persists becomes the new normal. Checked on the pure rule, and on
a simulated world against ``recops.drift.compare`` over the same days read with plain SQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from recops.drift import compare
from recops.drift.report import ColumnResult
from recops.drift.rules import INSUFFICIENT
from recops.monitors import read_series, run_monitors
from recops.monitors.families.drift import persistence, reference_days
from recops.sim import Incident, SimConfig
from recops.workspace import Workspace

from .conftest import build_world_workspace

REL = 1e-9
FEATURE = "session_watch_minutes"  # the transient unit change
LASTING = "watch_minutes_7d"  # the unit change that stays
START = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _rule(window: int, flagged: set[int], *, days: int = 7, empty: frozenset[int] = frozenset()) -> list[int]:
    return list(reference_days(window, days, lambda d: d >= 0 and d not in empty, lambda d: d in flagged))


def test_reference_days_leave_out_drifted_days() -> None:
    assert persistence(7) == 4 and persistence(1) == 1 and persistence(2) == 2
    assert _rule(10, set()) == [3, 4, 5, 6, 7, 8, 9]
    # Two separate incidents of two days each: both left out (no run reaches 4 days).
    assert _rule(13, {8, 9, 11, 12}) == [6, 7, 10]
    # Days without rows are never reference days; a window's own day never is.
    assert _rule(10, {5}, empty=frozenset({3})) == [4, 6, 7, 8, 9]
    # The first days of a lake: whatever exists.
    assert _rule(2, set()) == [0, 1]
    assert _rule(2, {1}) == [0]


def test_a_lasting_change_becomes_the_new_normal() -> None:
    # Drifted from day 10 on: days 11-13 still compare with the old normal ...
    assert _rule(11, {10}) == [4, 5, 6, 7, 8, 9]
    assert _rule(13, {10, 11, 12}) == [6, 7, 8, 9]
    # ... four drifted days in a row are a change of level: the reference starts there.
    assert _rule(14, {10, 11, 12, 13}) == [10, 11, 12, 13]
    assert _rule(16, {10, 11, 12, 13}) == [10, 11, 12, 13, 14, 15]
    # Later days of the new level keep the run's days, but not a newer transient incident.
    assert _rule(17, {10, 11, 12, 13, 15}) == [10, 11, 12, 13, 14, 16]
    # Once the run has left the reference, only the transient days are left out.
    assert _rule(25, {10, 11, 12, 13, 20}) == [18, 19, 21, 22, 23, 24]


def test_a_reference_of_drifted_days_only_falls_back_to_all() -> None:
    # Every reference day drifted, in runs too short to be a new level: use them all.
    assert _rule(4, {1, 2, 3}, days=3) == [1, 2, 3]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fourteen days at 3,000 requests a day: a x1000 unit change of session_watch_minutes
    on day 4 (03:00-21:00), and one of watch_minutes_7d from day 7 to the end."""
    root = tmp_path_factory.mktemp("drift-reference") / "ws"
    incidents = [
        Incident("upstream_schema_change", start="2026-10-04T03:00", hours=18, params={"feature": FEATURE}),
        Incident(
            "upstream_schema_change", start="2026-10-07T00:00", hours=8 * 24, params={"feature": LASTING}
        ),
    ]
    build_world_workspace(root, SimConfig(seed=5, days=14, requests_per_day=3_000, incidents=incidents))
    return root


def _copy(root: Path, tmp: Path, name: str) -> Workspace:
    copy = tmp / name
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("raw"))
    return Workspace.open(copy)


@pytest.fixture(scope="module")
def full_run(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = _copy(world, tmp_path_factory.mktemp("full"), "ws")
    run_monitors(ws.config, ws.lake, only=["drift"])
    yield ws
    ws.close()


def _ratios(ws: Workspace, feature: str, label: str = "") -> dict[datetime, float | None]:
    rows = read_series(ws.store, "feature_drift_ratio", subject=feature, slice=label, granularity="day")
    return {r["window_start"]: r["value"] for r in rows.to_pylist()}


def _day(i: int) -> datetime:
    """The start of simulated day ``i`` (day 1 is 2026-10-01; the workspace zone is UTC)."""
    return START + (i - 1) * DAY


def _ratio(column: ColumnResult) -> float | None:
    if column.verdict == INSUFFICIENT:
        return None
    return max(
        r.value / r.threshold
        for r in column.results
        if r.deciding and r.status in ("drift", "no drift") and r.value is not None
    )


def _values(ws: Workspace, feature: str, days: list[int]) -> pa.Table:
    con = ws.lake.connect()
    ranges = " OR ".join(
        f"(ts >= TIMESTAMPTZ '{_day(d).isoformat()}' AND ts < TIMESTAMPTZ '{(_day(d) + DAY).isoformat()}')"
        for d in days
    )
    table: pa.Table = con.execute(
        f"SELECT features['{feature}'] AS v, surface FROM requests WHERE {ranges}"
    ).to_arrow_table()
    return table


def test_an_incident_in_the_reference_does_not_drift_the_days_after(full_run: Workspace) -> None:
    ratios = _ratios(full_run, FEATURE)
    assert ratios[_day(4)] is not None and ratios[_day(4)] > 1  # the incident's day
    for i in range(5, 12):  # every later day has day 4 among its trailing 7 days
        value = ratios[_day(i)]
        assert value is not None and value < 1, (i, value)
    # Against all seven trailing days (day 4 included) day 5 would read as drifted: the
    # exclusion is what keeps it healthy. Both computed by compare() over plain SQL rows.
    current = _values(full_run, FEATURE, [5])
    plain = compare(_values(full_run, FEATURE, [1, 2, 3, 4]), current, columns=["v"]).columns[0]
    assert (_ratio(plain) or 0) > 1
    clean = compare(_values(full_run, FEATURE, [1, 2, 3]), current, columns=["v"]).columns[0]
    assert abs((ratios[_day(5)] or 0) - (_ratio(clean) or 0)) <= REL * (_ratio(clean) or 1)


def test_points_equal_compare_on_the_reference_days_that_did_not_drift(full_run: Workspace) -> None:
    """Day 9: its trailing days 2-8 minus day 4 (session_watch_minutes) and minus days 7
    and 8 (watch_minutes_7d, changed on day 7 and still under four days old)."""
    drift = {
        (r["subject"], r["slice"]): r
        for r in read_series(
            full_run.store, "feature_drift", granularity="day", start=_day(9), end=_day(10)
        ).to_pylist()
    }
    cases = {FEATURE: [2, 3, 5, 6, 7, 8], LASTING: [2, 3, 4, 5, 6], "sessions_7d": [2, 3, 4, 5, 6, 7, 8]}
    for feature, days in cases.items():
        report = compare(
            _values(full_run, feature, days),
            _values(full_run, feature, [9]),
            columns=["v"],
            segment="surface",
        )
        column = report.columns[0]
        point = drift[(feature, "")]
        assert abs(point["value"] - column.statistic) <= REL * max(abs(column.statistic), 1e-12), feature
        ratios = _ratios(full_run, feature)
        assert _close(ratios[_day(9)], _ratio(column)), feature
        for segment in report.segments:
            sliced = _ratios(full_run, feature, f"surface={segment.value}")[_day(9)]
            assert _close(sliced, _ratio(segment.columns[0])), (feature, segment.value)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-12)


def test_a_lasting_change_alerts_until_it_is_the_new_normal(full_run: Workspace) -> None:
    ratios = _ratios(full_run, LASTING)
    assert sorted(ratios) == [_day(i) for i in range(2, 14)]  # day 14 is not complete
    drifted = [i for i in range(2, 14) if (ratios[_day(i)] or 0) >= 1]
    # Drifted from day 7 for persistence(7) = 4 days, then judged against the new level
    # (the change back, on day 15, is outside the world).
    assert drifted == [7, 8, 9, 10], {i: ratios[_day(i)] for i in range(2, 14)}


def test_a_run_in_pieces_equals_one_run(world: Path, full_run: Workspace, tmp_path: Path) -> None:
    """Windows computed in later runs read the earlier days' flags from the store: the same
    points as one run that settles them all in rounds."""
    ws = _copy(world, tmp_path, "pieces")
    try:
        for first, last in ((1, 4), (4, 8), (8, 15)):
            run_monitors(ws.config, ws.lake, only=["drift"], start=_day(first), end=_day(last))
        for metric in ("feature_drift_ratio", "feature_drift"):
            one = _keyed(read_series(full_run.store, metric, granularity="day").to_pylist())
            pieces = _keyed(read_series(ws.store, metric, granularity="day").to_pylist())
            assert one.keys() == pieces.keys()
            assert all(_close(one[k], pieces[k]) for k in one), metric
    finally:
        ws.close()


def _keyed(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], float | None]:
    return {(r["subject"], r["slice"], r["window_start"]): r["value"] for r in rows}


@pytest.mark.spark
def test_spark_stores_the_same_drift_points(world: Path, full_run: Workspace, tmp_path: Path) -> None:
    """The rounds (exclusions, a second counting pass) on Spark give DuckDB's points: counts
    exactly, values within 1e-9 relative."""
    from recops.monitors.engine import spark_engine, spark_session

    session = spark_session("recops-drift-reference", driver_memory="1g")
    session.sparkContext.setLogLevel("ERROR")
    ws = _copy(world, tmp_path, "spark")
    try:
        report = run_monitors(ws.config, ws.lake, only=["drift"], engine=spark_engine(ws.lake, session))
        assert report.engine == "spark"
        duck = {_key(r): r for r in read_series(full_run.store, family="drift").to_pylist()}
        sparked = {_key(r): r for r in read_series(ws.store, family="drift").to_pylist()}
        assert duck.keys() == sparked.keys() and duck
        for key, a in duck.items():
            b = sparked[key]
            assert (a["n"], a["numerator"], a["denominator"]) == (b["n"], b["numerator"], b["denominator"])
            assert _close(a["value"], b["value"]), key
    finally:
        ws.close()
        session.stop()


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["metric"], row["subject"], row["slice"], row["granularity"], row["window_start"])
