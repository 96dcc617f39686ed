"""Relative thresholds: the pooled two-proportion z, and the dispersion of real rates.

The z is checked against scipy's chi-square test of the 2x2 table (z squared is Pearson's
statistic), the dispersion against series simulated with a known design effect, and the
whole rule on stored series: rare events over a zero baseline and clustered counts do not
cross, the same moves in plain binomial series of the same size do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import chi2, chi2_contingency

from recops.catalog import load_catalog
from recops.monitors.series import POINT_SCHEMA, replace_points
from recops.monitors.thresholds import CHI2_1_MEDIAN, MIN_PAIRS, crossings, dispersion, rate_z
from recops.workspace import Workspace

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
WEEKS = 5


def test_median_of_a_chi_square_with_one_degree_of_freedom() -> None:
    assert CHI2_1_MEDIAN == pytest.approx(chi2.median(1), rel=1e-12)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [(8, 271, 1, 244), (2, 30, 0, 37), (120, 10_000, 100, 20_000), (0, 50, 3, 150), (45, 90, 40, 120)],
)
def test_rate_z_is_the_pooled_two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> None:
    z = rate_z(x1 / n1, n1, x2 / n2, n2)
    assert z is not None
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
    statistic = chi2_contingency(table, correction=False)[0]
    assert z * z == pytest.approx(statistic, rel=1e-9)
    assert math.copysign(1, z) == math.copysign(1, x1 / n1 - x2 / n2)


def test_rate_z_of_nothing_to_compare() -> None:
    assert rate_z(0.0, 40, 0.0, 120) == 0.0  # no events anywhere: no move
    assert rate_z(0.5, 0, 0.1, 100) is None  # no trials in the window
    assert rate_z(2.5, 10, 1.0, 10) is None  # not a rate


def _series(
    rng: np.random.Generator, rate: float, cluster: int = 1, *, scale: float = 1.0
) -> dict[datetime, dict[str, Any]]:
    """Hourly points over five weeks with a daily traffic cycle; events come in clusters of
    ``cluster`` (every slot of a fallback request, say), so the variance is ``cluster``
    times binomial."""
    points: dict[datetime, dict[str, Any]] = {}
    for i in range(WEEKS * 7 * 24):
        at = START + i * HOUR
        units = int(scale * (200 + 150 * math.sin(2 * math.pi * (i % 24) / 24)))
        events = cluster * int(rng.binomial(units, rate))
        n = units * cluster
        points[at] = {"value": events / n, "numerator": float(events), "denominator": float(n), "n": n}
    return points


def test_dispersion_of_binomial_rates_is_one() -> None:
    rng = np.random.default_rng(1)
    estimates = [dispersion(_series(rng, 0.05), START + WEEKS * 7 * 24 * HOUR, UTC_ZONE) for _ in range(5)]
    assert all(1.0 <= e < 1.3 for e in estimates), estimates


@pytest.mark.parametrize("cluster", [4, 10])
def test_dispersion_measures_clustered_counts(cluster: int) -> None:
    rng = np.random.default_rng(cluster)
    points = _series(rng, 0.03, cluster)
    estimate = dispersion(points, START + WEEKS * 7 * 24 * HOUR, UTC_ZONE)
    assert estimate == pytest.approx(cluster, rel=0.2)


def test_dispersion_ignores_an_earlier_incident_and_the_future() -> None:
    rng = np.random.default_rng(3)
    points = _series(rng, 0.05)
    at = START + WEEKS * 7 * 24 * HOUR
    before = dispersion(points, at, UTC_ZONE)
    for i in range(12):  # an outage: twelve hours at ten times the rate, three weeks ago
        p = points[at - 21 * 24 * HOUR + i * HOUR]
        p["numerator"] = min(p["denominator"], 10 * p["numerator"] + 5)
        p["value"] = p["numerator"] / p["denominator"]
    assert dispersion(points, at, UTC_ZONE) == pytest.approx(before, rel=0.1)
    # Windows at or after the judged one are not used.
    assert dispersion(points, START + 7 * 24 * HOUR, UTC_ZONE) == 1.0  # no pairs yet
    few = {t: p for t, p in points.items() if t < START + (7 * 24 + MIN_PAIRS - 1) * HOUR}
    assert dispersion(few, at, UTC_ZONE) == 1.0


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with Workspace.init(tmp_path / "ws") as opened:
        yield opened


def _store(
    ws: Workspace, metric: str, subject: str, series: dict[str, dict[datetime, dict[str, Any]]]
) -> None:
    rows: dict[str, list[Any]] = {f.name: [] for f in POINT_SCHEMA}
    for label, points in series.items():
        for at, p in sorted(points.items()):
            row = {
                "metric": metric,
                "subject": subject,
                "slice": label,
                "granularity": "hour",
                "window_start": at,
                "window_end": at + HOUR,
                "family": "metrics",
                "label_completeness": None,
                **p,
            }
            for name in rows:
                rows[name].append(row[name])
    table = pa.Table.from_pydict(rows, schema=POINT_SCHEMA)
    starts = sorted({at for points in series.values() for at in points})
    replace_points(ws.store, "metrics", {"hour": starts}, table, engine="duckdb")


def _set(points: dict[datetime, dict[str, Any]], at: datetime, events: int, n: int) -> None:
    points[at] = {"value": events / n, "numerator": float(events), "denominator": float(n), "n": n}


def _judged(ws: Workspace, metric: str, at: datetime) -> dict[str, Any]:
    found = crossings(ws.store, load_catalog(None), {}, UTC_ZONE, metrics=[metric], start=at, end=at + HOUR)
    return {c.slice: c for c in found}


def test_rare_events_over_a_zero_baseline_do_not_cross(ws: Workspace) -> None:
    """Fallbacks in a thin slice: none the same hour one and two weeks before, two now. The
    baseline's binomial error was 0 and the old z infinite; pooled, it is 1.6."""
    at = START + 2 * 7 * 24 * HOUR + 2 * HOUR
    thin: dict[datetime, dict[str, Any]] = {}
    _set(thin, at - 14 * 24 * HOUR, 0, 23)
    _set(thin, at - 7 * 24 * HOUR, 0, 14)
    _set(thin, at, 2, 30)
    thick = {t: dict(p) for t, p in thin.items()}  # a real doubling, at scale
    _set(thick, at - 14 * 24 * HOUR, 120, 10_000)
    _set(thick, at - 7 * 24 * HOUR, 118, 10_000)
    _set(thick, at, 300, 10_000)
    _store(ws, "fallback_rate", "", {"country=CA": thin, "": thick})
    judged = _judged(ws, "fallback_rate", at)
    assert set(judged) == {""}
    assert judged[""].z == pytest.approx(rate_z(0.03, 10_000, 0.0119, 20_000), rel=1e-9)


def test_clustered_counts_need_a_larger_move(ws: Workspace) -> None:
    """A source's share of shown slots, where its slots come ten to a request: the same
    drop crosses in a series whose slots are independent, not in the clustered one, whose
    measured dispersion (about 10) widens the error."""
    rng = np.random.default_rng(7)
    at = START + ((WEEKS * 7 - 1) * 24 + 6) * HOUR  # the daily peak of the last day
    clustered = _series(rng, 0.02, 10, scale=2.0)
    plain = _series(rng, 0.02, 1, scale=20.0)  # the same number of slots, independent
    for points in (clustered, plain):
        base = [points[at - w * 7 * 24 * HOUR] for w in (1, 2, 3, 4)]
        n = int(np.median([p["denominator"] for p in base]))
        rate = float(np.median([p["value"] for p in base]))
        # A drop to 40% of the baseline, about 7 binomial standard errors.
        events = round(0.4 * rate * n)
        _set(points, at, events, n)
    _store(ws, "candidate_source_share", "popular_fallback", {"device=tv": clustered, "device=web": plain})
    judged = _judged(ws, "candidate_source_share", at)
    assert set(judged) == {"device=web"}, {k: (c.value, c.z) for k, c in judged.items()}
    found = crossings(ws.store, load_catalog(None), {}, UTC_ZONE, metrics=["candidate_source_share"])
    assert {c.slice for c in found} == {"device=web"}  # and no other hour of either crosses
