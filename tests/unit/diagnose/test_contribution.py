"""Slice contribution analysis on points stored in a real store (SQLite and PostgreSQL).

Test worlds are built as the monitors build them: traffic is drawn per segment (one
combination of device, surface, ... values) and hour, clicks are binomial draws, and the
stored points are the per-window sums over the total and each single-key slice.
Decompositions are checked against hand calculations, z statistics against textbook
formulas evaluated here with scipy.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from recops.diagnose.contribution import (
    ContributionReport,
    Period,
    SliceHypothesis,
    analyze_contributions,
    contributions_from_points,
    trailing_days,
    week_before,
)
from recops.errors import InvalidInput, NotFound
from recops.monitors.series import conform, replace_points
from recops.store import Store

NOW = datetime(2026, 3, 9, 12, tzinfo=UTC)  # a Monday noon
HOUR = timedelta(hours=1)
CURRENT = Period(NOW, NOW + 6 * HOUR)
BASELINE = week_before(CURRENT)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


# -- building stored points ----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One combination of slice values, its share of the impressions and its CTR."""

    keys: Mapping[str, str]
    share: float
    ctr: float


def cross(base_ctr: float, **dimensions: Mapping[str, tuple[float, float]]) -> list[Segment]:
    """Every combination of ``dimension → {value: (share, ctr factor)}``, independent dimensions."""
    names = list(dimensions)
    segments = []
    for combo in itertools.product(*(dimensions[n].items() for n in names)):
        share = math.prod(s for _, (s, _) in combo)
        ctr = base_ctr * math.prod(f for _, (_, f) in combo)
        segments.append(Segment({n: v for n, (v, _) in zip(names, combo, strict=True)}, share, ctr))
    return segments


Effect = Callable[[Segment], float]


def no_effect(_: Segment) -> float:
    return 1.0


def draw(
    segments: list[Segment],
    period: Period,
    impressions_per_hour: float,
    rng: np.random.Generator,
    effect: Effect = no_effect,
) -> dict[datetime, dict[str, tuple[float, float]]]:
    """Hour → slice → (clicks, impressions): Poisson impressions, binomial clicks per segment."""
    out: dict[datetime, dict[str, tuple[float, float]]] = {}
    start = period.start
    while start < period.end:
        cells: dict[str, list[float]] = {}
        for seg in segments:
            if seg.share <= 0:
                continue
            imps = int(rng.poisson(seg.share * impressions_per_hour))
            clicks = int(rng.binomial(imps, min(1.0, seg.ctr * effect(seg))))
            for name in ["", *(f"{k}={v}" for k, v in seg.keys.items())]:
                cell = cells.setdefault(name, [0.0, 0.0])
                cell[0] += clicks
                cell[1] += imps
        out[start] = {name: (n, d) for name, (n, d) in cells.items()}
        start += HOUR
    return out


def points(metric: str, windows: Mapping[datetime, Mapping[str, tuple[float, float]]]) -> pa.Table:
    """Ratio points in POINT_SCHEMA, as the metrics family stores them."""
    rows = [
        {
            "metric": metric,
            "slice": name,
            "granularity": "hour",
            "window_start": start,
            "window_end": start + HOUR,
            "family": "metrics",
            "value": n / d if d else None,
            "numerator": n,
            "denominator": d,
            "n": int(d),
            "label_completeness": 1.0,
        }
        for start, cells in windows.items()
        for name, (n, d) in cells.items()
    ]
    return conform(pa.Table.from_pylist(rows))


def count_points(metric: str, windows: Mapping[datetime, Mapping[str, float]]) -> pa.Table:
    rows = [
        {
            "metric": metric,
            "slice": name,
            "granularity": "hour",
            "window_start": start,
            "window_end": start + HOUR,
            "family": "metrics",
            "value": value,
            "n": int(value),
        }
        for start, cells in windows.items()
        for name, value in cells.items()
    ]
    return conform(pa.Table.from_pylist(rows))


def store_points(store: Store, table: pa.Table) -> None:
    starts = sorted(set(table["window_start"].to_pylist()))
    replace_points(store, "metrics", {"hour": starts}, table, engine="test")


def by_slice(report: ContributionReport) -> dict[str, SliceHypothesis]:
    return {h.slice: h for h in report.hypotheses}


def two_sided(z: float) -> float:
    return float(2 * stats.norm.sf(abs(z)))


# -- the acceptance world: a 0.5% slice drops 80%, a 40% slice drops 10% --------------------------

DEVICES = {"android_tv": (0.40, 1.0), "ios": (0.30, 1.2), "web": (0.295, 0.8), "kiosk": (0.005, 1.0)}
SURFACES = {"home": (0.6, 1.1), "search": (0.25, 0.9), "detail": (0.15, 0.8)}
COUNTRIES = {"US": (0.5, 1.0), "GB": (0.3, 1.05), "DE": (0.2, 0.95)}


def acceptance_world(tiny_dimension: str) -> tuple[list[Segment], Effect, str]:
    """Segments and the incident: android_tv (40%) -10%, a 0.5% slice -80%.

    The tiny slice is ``device=kiosk`` (same dimension as the real cause) or
    ``app=beta`` (a dimension of its own, crossing every device).
    """
    if tiny_dimension == "device":
        segments = cross(0.04, device=DEVICES, surface=SURFACES, country=COUNTRIES)
        tiny = "device=kiosk"
    else:
        devices = {"android_tv": (0.40, 1.0), "ios": (0.30, 1.2), "web": (0.30, 0.8)}
        app = {"stable": (0.995, 1.0), "beta": (0.005, 1.0)}
        segments = cross(0.04, device=devices, surface=SURFACES, country=COUNTRIES, app=app)
        tiny = "app=beta"

    def incident(seg: Segment) -> float:
        factor = 0.9 if seg.keys["device"] == "android_tv" else 1.0
        if seg.keys.get("device") == "kiosk" or seg.keys.get("app") == "beta":
            factor *= 0.2
        return factor

    return segments, incident, tiny


@pytest.mark.parametrize("tiny_dimension", ["device", "app"])
def test_a_forty_percent_slice_dropping_10_percent_outranks_a_tiny_slice_dropping_80(
    store: Store, tiny_dimension: str
) -> None:
    segments, incident, tiny = acceptance_world(tiny_dimension)
    rng = np.random.default_rng(7)
    store_points(store, points("ctr", draw(segments, BASELINE, 1_000_000, rng)))
    store_points(store, points("ctr", draw(segments, CURRENT, 1_000_000, rng, incident)))
    # A decoy hour just after the window, with a huge move, must not be read.
    decoy = Period(CURRENT.end, CURRENT.end + HOUR)
    store_points(store, points("ctr", draw(segments, decoy, 200_000, rng, lambda s: 0.1)))

    report = analyze_contributions(store, "ctr", CURRENT)

    assert (report.current_windows, report.baseline_windows) == (6, 6)
    assert report.baseline == BASELINE
    top = report.hypotheses[0]
    assert top.slice == "device=android_tv"
    small = by_slice(report)[tiny]
    assert small.significant and top.significant
    # Within 4 standard errors of the injected changes (~1,200 and ~96,000 baseline clicks).
    assert small.relative_change == pytest.approx(-0.8, abs=0.06)
    assert top.relative_change == pytest.approx(-0.1, abs=0.02)
    # By design: android_tv carries 0.4 x 0.10 of the baseline CTR's drop, the tiny slice
    # 0.005 x 0.80, so they explain 0.04 / 0.044 = 91% and 9% of it (plus the noise of the
    # other slices, a few points at this volume).
    assert top.explained_share is not None and top.explained_share > 0.8
    assert small.explained_share is not None and small.explained_share < 0.2
    assert small.score < top.score / 5
    # Adtributor's surprise (JS divergence) alone would have put the tiny slice first.
    assert small.js_surprise is not None and top.js_surprise is not None
    assert small.js_surprise > top.js_surprise
    # The surfaces and countries merely carry their share of the drop: nothing specific.
    for h in report.hypotheses:
        if h.dimension in ("surface", "country"):
            assert h.score < 0.1, h.sentence()
    assert report.findings[0] is top and small in report.findings
    assert top.sentence().startswith(
        f"device=android_tv explains {100 * top.explained_share:.0f}% of the ctr drop"
    )
    data = json.loads(json.dumps(report.to_json()))
    assert data["hypotheses"][0]["slice"] == "device=android_tv"
    assert data["hypotheses"][0]["explained_share"] == pytest.approx(top.explained_share)


# -- the decomposition by hand -------------------------------------------------------------------


def test_rate_and_mix_effects_of_two_slices_by_hand(store: Store) -> None:
    # Baseline: a 60/600 (10%), b 20/400 (5%) -> R0 = 80/1000 = 8%.
    # Current:  a 36/400 (9%),  b 30/600 (5%) -> R1 = 66/1000 = 6.6%, a move of -1.4 pp.
    # Each period split over two hours, to check the windows are summed.
    base = {
        BASELINE.start: {"": (50, 600), "surface=a": (40, 350), "surface=b": (10, 250)},
        BASELINE.start + HOUR: {"": (30, 400), "surface=a": (20, 250), "surface=b": (10, 150)},
    }
    cur = {
        CURRENT.start: {"": (40, 500), "surface=a": (18, 200), "surface=b": (22, 300)},
        CURRENT.start + HOUR: {"": (26, 500), "surface=a": (18, 200), "surface=b": (8, 300)},
    }
    store_points(store, points("ctr", base))
    store_points(store, points("ctr", cur))
    report = analyze_contributions(store, "ctr", CURRENT, BASELINE)
    a, b = by_slice(report)["surface=a"], by_slice(report)["surface=b"]

    assert (report.baseline_value, report.current_value) == pytest.approx((0.08, 0.066))
    assert report.change == pytest.approx(-0.014)
    # a: rate effect w1 (r1 - r0) = 0.4 x (0.09 - 0.10) = -0.004;
    #    mix effect (w1 - w0)(r0 - R0) = (0.4 - 0.6)(0.10 - 0.08) = -0.004.
    # b: rate effect 0.6 x (0.05 - 0.05) = 0; mix effect (0.6 - 0.4)(0.05 - 0.08) = -0.006.
    assert (a.rate_effect, a.mix_effect, a.contribution) == pytest.approx((-0.004, -0.004, -0.008))
    assert (b.rate_effect, b.mix_effect, b.contribution) == pytest.approx((0.0, -0.006, -0.006))
    assert a.contribution + b.contribution == pytest.approx(report.change)
    assert report.residuals == {"surface": pytest.approx(0.0, abs=1e-15)}
    assert (a.explained_share, b.explained_share) == pytest.approx((0.008 / 0.014, 0.006 / 0.014))
    assert (a.baseline_share, a.current_share) == pytest.approx((0.6, 0.4))
    # Specific share: the rest of a (b) did not move -> 1; the rest of b (a) moved -10%
    # against the total's -17.5% -> 1 - 0.1/0.175 = 3/7, which is all of b's 3/7 share.
    assert a.specific_share == pytest.approx(1.0)
    assert b.specific_share == pytest.approx(1 - 0.1 / 0.175)
    assert (a.surprise, b.surprise) == pytest.approx((1.0, 1.0))
    assert (a.effect, b.effect) == ("rate", "mix")  # a's two effects tie; b is all mix

    # z statistics, from the textbook formulas.
    pooled = (36 + 60) / (400 + 600)
    z_a = (0.09 - 0.10) / math.sqrt(pooled * (1 - pooled) * (1 / 400 + 1 / 600))
    assert a.z == pytest.approx(z_a)
    # a against the rest (b): log(0.09 / 0.10) - log(0.05 / 0.05), delta-method variance.
    var = (1 - 0.09) / 36 + (1 - 0.10) / 60 + (1 - 0.05) / 30 + (1 - 0.05) / 20
    assert a.z_vs_rest == pytest.approx(math.log(0.9) / math.sqrt(var))
    share = (400 + 600) / 2000  # a's pooled share of impressions, 40% now vs 60% before
    assert a.z_mix == pytest.approx((0.4 - 0.6) / math.sqrt(share * (1 - share) * (2 / 1000)))
    total = (66 + 80) / 2000
    assert report.z == pytest.approx((0.066 - 0.08) / math.sqrt(total * (1 - total) * (2 / 1000)))
    assert report.p_value == pytest.approx(two_sided(report.z or 0.0))
    # p: Bonferroni over the 2 slices, per effect, weighted by the effects' sizes.
    p_rate = min(1.0, 2 * max(two_sided(z_a), two_sided(a.z_vs_rest or 0.0)))
    p_mix = min(1.0, 2 * two_sided(a.z_mix or 0.0))
    assert a.p_value == pytest.approx((p_rate + p_mix) / 2)
    # strength = clamp(EP) x surprise; score = strength x max(0, 1 - p / alpha).
    assert (a.strength, b.strength) == pytest.approx((0.008 / 0.014, 0.006 / 0.014))
    assert a.p_value > 0.05 and not a.significant and a.score == 0.0  # half of it is noise
    p_b = min(1.0, 2 * two_sided(b.z_mix or 0.0))
    assert b.significant and b.score == pytest.approx(0.006 / 0.014 * (1 - p_b / 0.05))
    assert [h.slice for h in report.hypotheses] == ["surface=b", "surface=a"]
    assert report.findings == (b,)


def test_counts_decompose_into_slice_changes_against_a_scaled_baseline(store: Store) -> None:
    # 2 baseline hours against 1 current hour: the baseline is halved (k = 0.5).
    current = Period(NOW, NOW + HOUR)
    baseline = trailing_days(current, days=1)
    baseline = Period(baseline.end - 2 * HOUR, baseline.end)
    base = {
        baseline.start: {"": 1400.0, "surface=home": 900.0, "surface=search": 500.0},
        baseline.start + HOUR: {"": 1600.0, "surface=home": 1100.0, "surface=search": 500.0},
    }
    cur = {current.start: {"": 1220.0, "surface=home": 700.0, "surface=search": 520.0}}
    store_points(store, count_points("requests", base))
    store_points(store, count_points("requests", cur))
    report = analyze_contributions(store, "requests", current, baseline)
    assert report.kind == "additive"  # from the catalog: requests is a count
    assert report.duration_ratio == pytest.approx(0.5)
    home, search = by_slice(report)["surface=home"], by_slice(report)["surface=search"]
    assert (report.baseline_value, report.current_value, report.change) == pytest.approx((1500, 1220, -280))
    assert (home.contribution, search.contribution) == pytest.approx((700 - 1000, 520 - 500))
    assert home.contribution + search.contribution == pytest.approx(report.change)
    assert home.explained_share == pytest.approx(300 / 280)
    assert home.z == pytest.approx(-300 / math.sqrt(700 + 0.25 * 2000))  # Poisson
    # Home against search: log(700/2000) - log(520/1000), variance 1/700 + 1/2000 + 1/520 + 1/1000.
    expected = (math.log(700 / 2000) - math.log(520 / 1000)) / math.sqrt(
        1 / 700 + 1 / 2000 + 1 / 520 + 1 / 1000
    )
    assert home.z_vs_rest == pytest.approx(expected)
    assert report.hypotheses[0].slice == "surface=home" and search.score == 0.0
    assert home.sentence().startswith("surface=home explains 107% of the requests drop: requests 1,000 → 700")


def test_ratio_of_unbounded_values_takes_its_noise_from_the_windows() -> None:
    # Watch seconds per request: numerators exceed denominators, so no binomial variance.
    base = {
        BASELINE.start: {"": (30_000.0, 100.0), "surface=a": (30_000.0, 100.0)},
        BASELINE.start + HOUR: {"": (36_000.0, 100.0), "surface=a": (36_000.0, 100.0)},
        BASELINE.start + 2 * HOUR: {"": (33_000.0, 100.0), "surface=a": (33_000.0, 100.0)},
    }
    cur = {
        CURRENT.start: {"": (27_000.0, 100.0), "surface=a": (27_000.0, 100.0)},
        CURRENT.start + HOUR: {"": (29_000.0, 100.0), "surface=a": (29_000.0, 100.0)},
    }
    report = contributions_from_points(
        points("watch_time_per_request", cur),
        points("watch_time_per_request", base),
        metric="watch_time_per_request",
        current=CURRENT,
        baseline=BASELINE,
    )
    assert report.kind == "ratio" and not report.proportion
    # Per-unit variance: sum_w D_w (r_w - r)^2 pooled over the periods, 3 - 1 + 2 - 1 dof.
    squares = 100 * ((300 - 330) ** 2 + (360 - 330) ** 2 + 0) + 100 * ((270 - 280) ** 2 + (290 - 280) ** 2)
    sigma2 = squares / 3
    z = (280 - 330) / math.sqrt(sigma2 * (1 / 200 + 1 / 300))
    assert report.z == pytest.approx(z)
    a = by_slice(report)["surface=a"]
    assert a.z == pytest.approx(z)
    assert a.explained_share == pytest.approx(1.0)
    assert a.surprise == 0.0  # the slice is all the traffic: it localizes nothing
    assert report.findings == ()
    assert "watch_time_per_request 330 → 280" in a.sentence()


# -- noise and global moves ----------------------------------------------------------------------

NOISE_SEGMENTS = cross(
    0.05,
    device={"android_tv": (0.4, 1.0), "ios": (0.3, 1.2), "web": (0.25, 0.8), "kiosk": (0.05, 1.0)},
    surface=SURFACES,
    model_version={"v12": (0.9, 1.0), "v13": (0.1, 1.05)},
)


def test_noise_alone_ranks_nothing_as_significant(store: Store) -> None:
    rng = np.random.default_rng(11)
    store_points(store, points("ctr", draw(NOISE_SEGMENTS, BASELINE, 100_000, rng)))
    store_points(store, points("ctr", draw(NOISE_SEGMENTS, CURRENT, 100_000, rng)))
    report = analyze_contributions(store, "ctr", CURRENT)
    assert report.slices_tested == 4 + 3 + 2
    assert report.findings == ()
    assert not any(h.significant for h in report.hypotheses)
    for dimension, residual in report.residuals.items():
        assert residual == pytest.approx(0.0, abs=1e-12), dimension


def test_false_findings_stay_under_the_family_wise_level() -> None:
    """Over 200 noise-only worlds, the share with any finding is at most alpha = 5%.

    Under the null, P(any finding) <= 5% (Bonferroni); 200 worlds at 5% have 99.9% of
    their mass under 20 (binomial quantile), so more than 20 would mean a broken test.
    """
    rng = np.random.default_rng(5)
    worlds_with_findings = 0
    for _ in range(200):
        base = points("ctr", draw(NOISE_SEGMENTS, BASELINE, 20_000, rng))
        cur = points("ctr", draw(NOISE_SEGMENTS, CURRENT, 20_000, rng))
        report = contributions_from_points(cur, base, metric="ctr", current=CURRENT, baseline=BASELINE)
        worlds_with_findings += bool(report.findings)
    assert worlds_with_findings <= stats.binom.ppf(0.999, 200, 0.05)


def test_a_move_shared_by_every_slice_is_pinned_on_none(store: Store) -> None:
    rng = np.random.default_rng(12)
    store_points(store, points("ctr", draw(NOISE_SEGMENTS, BASELINE, 200_000, rng)))
    store_points(store, points("ctr", draw(NOISE_SEGMENTS, CURRENT, 200_000, rng, lambda s: 0.9)))
    report = analyze_contributions(store, "ctr", CURRENT)
    assert report.relative_change == pytest.approx(-0.1, abs=0.01)
    assert report.p_value is not None and report.p_value < 1e-12
    # android_tv carries 40% of the drop but only because it carries 40% of the clicks.
    tv = by_slice(report)["device=android_tv"]
    assert tv.explained_share == pytest.approx(0.4, abs=0.05)
    # No slice moved differently from the rest: none is significant, none scores.
    assert report.findings == ()
    assert not any(h.significant for h in report.hypotheses)
    assert all(h.score == 0.0 for h in report.hypotheses)


# -- model versions ------------------------------------------------------------------------------


@pytest.mark.parametrize("rollout", [0.1, 1.0])
def test_a_worse_new_model_version_explains_the_move(store: Store, rollout: float) -> None:
    segments = cross(0.05, device=DEVICES, surface=SURFACES)
    rng = np.random.default_rng(21)
    store_points(store, points("ctr", merge_versions({"v12": draw(segments, BASELINE, 200_000, rng)})))
    # v13 serves `rollout` of the traffic at a CTR 25% lower.
    old = draw(segments, CURRENT, 200_000 * (1 - rollout), rng) if rollout < 1 else {}
    new = draw(segments, CURRENT, 200_000 * rollout, rng, lambda s: 0.75)
    store_points(store, points("ctr", merge_versions({"v12": old, "v13": new})))

    report = analyze_contributions(store, "ctr", CURRENT)
    v13 = report.hypotheses[0]
    assert v13.slice == "model_version=v13" and v13.effect == "new" and v13.significant
    # A new slice is measured against the baseline overall rate: w1 (r1 - R0).
    assert v13.baseline_value == pytest.approx(report.baseline_value)
    assert v13.contribution == pytest.approx(v13.current_share * (v13.current_value - report.baseline_value))
    assert v13.explained_share == pytest.approx(1.0, abs=0.1 if rollout < 1 else 1e-9)
    assert v13.relative_change == pytest.approx(-0.25, abs=0.02)
    v12 = by_slice(report)["model_version=v12"]
    assert v12.score < 0.1
    # v12 was all the baseline traffic (r0 = R0): losing share to v13 moves nothing by itself.
    assert v12.mix_effect == pytest.approx(0.0, abs=1e-12)
    assert v12.effect == ("gone" if rollout == 1 else "rate")
    assert "model_version=v13 explains" in v13.sentence() and "new in the window" in v13.sentence()


def test_a_version_that_hurts_one_device_ranks_with_that_device(store: Store) -> None:
    """The bad-deploy-in-one-segment shape: v13 on half the traffic, -30% CTR on android_tv only."""
    segments = cross(0.05, device=DEVICES, surface=SURFACES)
    rng = np.random.default_rng(22)
    store_points(store, points("ctr", merge_versions({"v12": draw(segments, BASELINE, 200_000, rng)})))
    old = draw(segments, CURRENT, 100_000, rng)
    new = draw(segments, CURRENT, 100_000, rng, lambda s: 0.7 if s.keys["device"] == "android_tv" else 1.0)
    store_points(store, points("ctr", merge_versions({"v12": old, "v13": new})))
    report = analyze_contributions(store, "ctr", CURRENT)
    assert {h.slice for h in report.hypotheses[:2]} == {"model_version=v13", "device=android_tv"}
    assert all(h.significant and h.explained_share and h.explained_share > 0.8 for h in report.hypotheses[:2])
    only_versions = analyze_contributions(store, "ctr", CURRENT, dimensions={"model_version"})
    assert {h.dimension for h in only_versions.hypotheses} == {"model_version"}


def merge_versions(
    parts: dict[str, dict[datetime, dict[str, tuple[float, float]]]],
) -> dict[datetime, dict[str, tuple[float, float]]]:
    """Windows of traffic drawn per version, summed, with one model_version slice per version."""
    out: dict[datetime, dict[str, tuple[float, float]]] = {}
    for version, windows in parts.items():
        for start, cells in windows.items():
            merged = out.setdefault(start, {})
            for name, (n, d) in cells.items():
                n0, d0 = merged.get(name, (0.0, 0.0))
                merged[name] = (n0 + n, d0 + d)
            merged[f"model_version={version}"] = cells[""]
    return out


# -- inputs --------------------------------------------------------------------------------------


def test_periods_and_bad_inputs(store: Store) -> None:
    assert week_before(CURRENT) == Period(NOW - timedelta(days=7), NOW - timedelta(days=7) + 6 * HOUR)
    assert trailing_days(CURRENT, 3) == Period(NOW - timedelta(days=3), NOW)
    with pytest.raises(InvalidInput):
        Period(NOW, NOW)
    with pytest.raises(InvalidInput):
        Period(NOW.replace(tzinfo=None), NOW.replace(tzinfo=None) + HOUR)
    store_points(store, points("ctr", {NOW: {"": (5, 100)}}))
    with pytest.raises(NotFound, match="baseline"):
        analyze_contributions(store, "ctr", CURRENT)
    gini = count_points("popularity_gini", {NOW: {"": 0.4}})
    with pytest.raises(InvalidInput, match="not a count"):
        contributions_from_points(gini, gini, metric="popularity_gini", current=CURRENT, baseline=BASELINE)
