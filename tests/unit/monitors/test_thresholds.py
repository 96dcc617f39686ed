"""Relative thresholds: the pooled two-proportion z, and the dispersion of real rates.

The z is checked against scipy's chi-square test of the 2x2 table (z squared is Pearson's
statistic), the dispersion against series simulated with a known design effect, and the
whole rule on stored series: rare events over a zero baseline and clustered counts do not
cross, the same moves in plain binomial series of the same size do.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import chi2, chi2_contingency, chisquare

from recops.catalog import load_catalog
from recops.monitors.series import POINT_SCHEMA, replace_points
from recops.monitors.thresholds import (
    CHI2_1_MEDIAN,
    MIN_PAIRS,
    crossings,
    dispersion,
    log_z,
    rate_z,
    share_z,
)
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


@pytest.mark.parametrize(
    ("past", "total", "allowed"), [(25, 2000, 0.01), (80, 2000, 0.01), (3, 900, 0.01), (40, 100, 0.5)]
)
def test_share_z_is_the_one_sample_test_of_a_proportion(past: int, total: int, allowed: float) -> None:
    z = share_z(past, total, allowed)
    assert z is not None
    statistic = chisquare([past, total - past], [total * allowed, total * (1 - allowed)])[0]
    assert z * z == pytest.approx(statistic, rel=1e-9)
    assert math.copysign(1, z) == math.copysign(1, past / total - allowed)
    assert share_z(0, 0, 0.01) is None and share_z(5, 4, 0.01) is None


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
    ws: Workspace,
    metric: str,
    subject: str,
    series: dict[str, dict[datetime, dict[str, Any]]],
    family: str = "metrics",
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
                "family": family,
                "label_completeness": None,
                **p,
            }
            for name in rows:
                rows[name].append(row[name])
    table = pa.Table.from_pydict(rows, schema=POINT_SCHEMA)
    starts = sorted({at for points in series.values() for at in points})
    replace_points(ws.store, family, {"hour": starts}, table, engine="duckdb")


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


def test_a_p99_past_its_slo_crosses_only_when_the_slow_count_bears_it_out(ws: Workspace) -> None:
    """Three hours of 2,000 requests whose p99 reads 262 ms against a 250 ms SLO: 25 slow
    requests (1.25%, 1.1 standard errors past the 1% a p99 allows) is chance; 80 (4%) is a
    breach; without a slow count the p99 alone does not cross."""
    at = START + 3 * 7 * 24 * HOUR
    p99 = {"value": 262.0, "numerator": None, "denominator": None, "n": 2000}
    slices = {"surface=home": {at: p99}, "surface=search": {at: p99}, "surface=row": {at: p99}}
    _store(ws, "latency_p99_ms", "", slices, family="latency")
    slow: dict[str, dict[datetime, dict[str, Any]]] = {"surface=home": {}, "surface=search": {}}
    _set(slow["surface=home"], at, 25, 2000)
    _set(slow["surface=search"], at, 80, 2000)
    _store(ws, "latency_slo_bad_share", "", slow, family="latency_counts")  # not replacing the p99s
    found = crossings(
        ws.store,
        load_catalog(None),
        {"latency_p99_ms": 250.0},
        UTC_ZONE,
        metrics=["latency_p99_ms"],
        start=at,
    )
    assert [c.slice for c in found] == ["surface=search"]
    assert found[0].z == pytest.approx((80 - 20) / math.sqrt(2000 * 0.01 * 0.99), rel=1e-12)
    assert found[0].baseline == pytest.approx(0.01) and found[0].value == 262.0


def _latencies(rng: np.random.Generator, sigma: float) -> dict[datetime, dict[str, Any]]:
    """Hourly p95s over five weeks: a daily cycle times log-normal noise of ``sigma``."""
    points = {}
    for h in range(WEEKS * 7 * 24):
        at = START + h * HOUR
        cycle = 100.0 * (1.3 + math.sin(2 * math.pi * (h % 24) / 24))
        points[at] = {"value": cycle * math.exp(sigma * rng.standard_normal()), "numerator": None,
                      "denominator": None, "n": 2000}  # fmt: skip
    return points


def test_log_z_measures_the_series_own_spread() -> None:
    """The log noise recovered from the week-over-week pairs is the simulated sigma (within
    the sampling error of a MAD over ~670 pairs), and z is the log move over it."""
    rng = np.random.default_rng(11)
    points = _latencies(rng, 0.05)
    at = START + (WEEKS * 7 - 1) * 24 * HOUR
    z = log_z(125.0, 100.0, 4, points, at, UTC_ZONE)
    assert z is not None
    sigma = math.log(1.25) / z / math.sqrt(1 + math.pi / 8)
    assert sigma == pytest.approx(0.05, rel=0.1)
    assert log_z(0.0, 100.0, 4, points, at, UTC_ZONE) is None  # not positive
    assert log_z(125.0, 100.0, 4, points, START + 3 * 24 * HOUR, UTC_ZONE) is None  # no pairs yet


def test_a_latency_regression_crosses_and_noise_does_not(ws: Workspace) -> None:
    """A stage's p95 up 40% in one hour crosses its relative rise; the same rise in a series
    whose hours swing by 25% (log sigma 0.2) is within its noise; no other hour crosses."""
    rng = np.random.default_rng(5)
    steady, noisy = _latencies(rng, 0.03), _latencies(rng, 0.2)
    at = START + ((WEEKS * 7 - 1) * 24 + 14) * HOUR
    for points in (steady, noisy):
        base = statistics.median(points[at - w * 7 * 24 * HOUR]["value"] for w in (1, 2, 3, 4))
        points[at] = {**points[at], "value": 1.4 * base}
    _store(
        ws, "latency_p95_ms", "ranking", {"surface=home": steady, "surface=search": noisy}, family="latency"
    )
    found = crossings(ws.store, load_catalog(None), {}, UTC_ZONE, metrics=["latency_p95_ms"])
    assert [(c.slice, c.window_start) for c in found] == [("surface=home", at)]
    assert found[0].z is not None and found[0].z >= 4


def test_a_latency_series_with_heavy_tailed_moves_needs_a_larger_rise(ws: Workspace) -> None:
    """The same 40% rise crosses in a series with Gaussian hour-to-hour noise and not in one
    whose hours jump by 50% now and then (4% of hours, as a thin slice's p95 does when a
    dozen fallbacks land in it): the noise scale is read off the moves' tail."""
    rng = np.random.default_rng(9)
    calm, jumpy = _latencies(rng, 0.03), _latencies(rng, 0.03)
    for point in jumpy.values():
        if rng.random() < 0.04:
            point["value"] *= 1.5
    at = START + ((WEEKS * 7 - 1) * 24 + 14) * HOUR
    for points in (calm, jumpy):
        base = statistics.median(points[at - w * 7 * 24 * HOUR]["value"] for w in (1, 2, 3, 4))
        points[at] = {**points[at], "value": 1.4 * base}
    _store(ws, "latency_p95_ms", "", {"device=tv": calm, "device=web": jumpy}, family="latency")
    found = crossings(ws.store, load_catalog(None), {}, UTC_ZONE, metrics=["latency_p95_ms"], start=at)
    assert [c.slice for c in found] == ["device=tv"]
