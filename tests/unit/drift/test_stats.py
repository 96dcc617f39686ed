"""Every statistic against an independent computation (scipy, or the formula by hand)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import special, stats
from scipy.spatial import distance

from recops.drift import sketches
from recops.drift.rules import DRIFT, INSUFFICIENT, NO_DRIFT, Rules, run_tests
from recops.drift.stats import (
    STATISTICS,
    cardinality,
    chisquare,
    jensenshannon,
    ks,
    null_rate,
    psi,
    wasserstein,
)
from recops.drift.stats._pvalues import chi2_sf, kolmogorov_sf
from recops.errors import InvalidInput
from tests.unit.drift.helpers import categorical_pair, numeric_pair


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_registry_holds_one_statistic_per_module_with_a_documented_threshold() -> None:
    names = {"wasserstein", "ks", "psi", "jensenshannon", "chisquare", "null_rate", "cardinality"}
    assert set(STATISTICS) == names
    for module in (wasserstein, ks, psi, jensenshannon, chisquare, null_rate, cardinality):
        doc = module.__doc__ or ""
        assert "Default threshold" in doc and "Reference" in doc and "When to use it" in doc
    with pytest.raises(InvalidInput, match="unknown drift statistic"):
        Rules(thresholds={"nope": 0.1})


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_ks_exact_mode_equals_scipy(shift: float) -> None:
    ref, cur = rng(1).normal(size=700), rng(2).normal(shift, 1.3, size=450)
    measured = ks.measure(numeric_pair(ref, cur, exact=True))
    assert measured is not None
    expected = stats.ks_2samp(ref, cur)
    assert measured.value == pytest.approx(expected.statistic, abs=1e-12)
    assert measured.detail["max_error"] == 0.0


def test_ks_with_ties_equals_scipy() -> None:
    ref = rng(3).poisson(2.0, size=500).astype(float)
    cur = rng(4).poisson(2.4, size=800).astype(float)
    measured = ks.measure(numeric_pair(ref, cur, exact=True))
    assert measured is not None
    assert measured.value == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)


def test_ks_from_percentile_bins_is_within_its_reported_error() -> None:
    ref, cur = rng(5).standard_t(3, size=20_000), rng(6).standard_t(3, size=15_000) * 1.3 + 0.1
    exact = stats.ks_2samp(ref, cur).statistic
    measured = ks.measure(numeric_pair(ref, cur))
    assert measured is not None
    bound = float(measured.detail["max_error"])  # type: ignore[arg-type]
    assert measured.value <= exact + 1e-12
    assert exact - measured.value <= bound
    assert bound < 0.03


def test_ks_p_value_is_the_asymptotic_kolmogorov_tail() -> None:
    ref, cur = rng(7).normal(size=3000), rng(8).normal(0.05, size=2000)
    measured = ks.measure(numeric_pair(ref, cur, exact=True))
    assert measured is not None
    scale = math.sqrt(3000 * 2000 / 5000)
    assert measured.detail["p_value"] == pytest.approx(special.kolmogorov(scale * measured.value), rel=1e-9)


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.4, 1.0), (0.0, 1.5), (-0.2, 0.7)])
def test_wasserstein_exact_mode_equals_scipy_normalized_by_reference_sd(shift: float, scale: float) -> None:
    ref, cur = rng(9).normal(size=900), rng(10).normal(shift, scale, size=1300)
    measured = wasserstein.measure(numeric_pair(ref, cur, exact=True))
    assert measured is not None
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert measured.value == pytest.approx(expected, rel=1e-9)
    assert measured.detail["reference_sd"] == pytest.approx(np.std(ref), rel=1e-12)


def test_wasserstein_by_hand_on_a_tiny_example() -> None:
    # Reference {0, 1, 2}, current {1, 2, 3}: every unit of mass moves by 1, so W1 = 1;
    # the reference sd is sqrt(2/3).
    measured = wasserstein.measure(numeric_pair(np.array([0.0, 1, 2]), np.array([1.0, 2, 3]), exact=True))
    assert measured is not None
    assert measured.value == pytest.approx(1 / math.sqrt(2 / 3), rel=1e-12)


def test_wasserstein_from_bins_is_exact_for_a_shift_and_bounded_otherwise() -> None:
    ref = rng(11).normal(size=40_000)
    shifted = numeric_pair(ref, ref + 0.37)  # CDFs never cross: the binned value is exact
    measured = wasserstein.measure(shifted)
    assert measured is not None and measured.value == pytest.approx(0.37 / np.std(ref), rel=1e-9)
    cur = rng(12).normal(0.1, 1.4, size=30_000)  # CDFs cross once
    exact = stats.wasserstein_distance(ref, cur) / np.std(ref)
    measured = wasserstein.measure(numeric_pair(ref, cur))
    assert measured is not None
    assert measured.value <= exact + 1e-12
    assert exact - measured.value <= float(measured.detail["max_error"])  # type: ignore[arg-type]
    assert exact - measured.value < 1e-3  # in practice far inside the bound


def test_wasserstein_of_a_constant_reference() -> None:
    same = wasserstein.measure(numeric_pair(np.full(200, 3.0), np.full(300, 3.0)))
    moved = wasserstein.measure(numeric_pair(np.full(200, 3.0), np.r_[np.full(290, 3.0), np.full(10, 4.0)]))
    assert same is not None and same.value == 0.0
    assert moved is not None and math.isinf(moved.value)


def test_psi_by_hand() -> None:
    p, q = np.array([10.0, 20, 30, 40]), np.array([20.0, 20, 30, 30])
    # shares p = .1 .2 .3 .4, q = .2 .2 .3 .3
    expected = (0.2 - 0.1) * math.log(0.2 / 0.1) + (0.3 - 0.4) * math.log(0.3 / 0.4)
    assert psi.psi(p, q) == pytest.approx(expected, rel=1e-12)
    # an empty bin counts as 0.0001, bins empty in both are ignored
    empty = psi.psi(np.array([50.0, 50, 0, 0]), np.array([50.0, 40, 10, 0]))
    assert empty == pytest.approx((0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4))


def test_numeric_psi_uses_reference_deciles() -> None:
    ref = rng(13).normal(size=10_000)
    pair = numeric_pair(ref, ref + 0.3)
    p, q, labels = pair.histogram()
    assert len(p) == 10 and len(labels) == 10
    assert np.allclose(p, 1000, atol=1)  # an edge value belongs to the bin above it
    edges = np.quantile(ref, np.arange(1, 10) / 10, method="inverted_cdf")
    by_hand = np.bincount(np.searchsorted(edges, ref + 0.3, side="right"), minlength=10)
    assert np.array_equal(q, by_hand)
    measured = psi.measure(pair)
    assert measured is not None and measured.value == pytest.approx(psi.psi(p, by_hand.astype(float)))


def test_jensen_shannon_equals_scipy() -> None:
    reference = ["a"] * 50 + ["b"] * 30 + ["c"] * 20 + [None] * 5
    current = ["a"] * 20 + ["b"] * 30 + ["d"] * 40 + [None] * 15
    pair = categorical_pair(reference, current)
    p, q, labels = pair.histogram()
    assert labels == ["a", "b", "c", "(other)", "(null)"]
    assert p.tolist() == [50, 30, 20, 0, 5] and q.tolist() == [20, 30, 0, 40, 15]
    measured = jensenshannon.measure(pair)
    assert measured is not None and measured.value == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
    assert jensenshannon.js_distance(p, p) == 0.0


def test_chi_square_equals_scipy_and_decides_on_cohens_w() -> None:
    reference = ["a"] * 300 + ["b"] * 200 + ["c"] * 100
    current = ["a"] * 250 + ["b"] * 250 + ["c"] * 80 + ["e"] * 20
    pair = categorical_pair(reference, current)
    p, q, _ = pair.histogram()
    keep = (p > 0) | (q > 0)
    expected = stats.chi2_contingency(np.vstack([p[keep], q[keep]]), correction=False)
    measured = chisquare.measure(pair)
    assert measured is not None
    assert measured.detail["chi2"] == pytest.approx(expected.statistic, rel=1e-12)
    assert measured.detail["dof"] == expected.dof
    assert measured.detail["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert measured.value == pytest.approx(math.sqrt(expected.statistic / (p.sum() + q.sum())), rel=1e-12)


@pytest.mark.parametrize("x,dof", [(0.5, 1), (3.0, 2), (10.0, 5), (100.0, 50), (500.0, 400), (1e-3, 3)])
def test_chi2_survival_equals_scipy(x: float, dof: int) -> None:
    assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("lam", [0.05, 0.3, 0.8, 1.0, 1.5, 3.0])
def test_kolmogorov_survival_equals_scipy(lam: float) -> None:
    assert kolmogorov_sf(lam) == pytest.approx(special.kolmogorov(lam), rel=1e-9, abs=1e-300)


def test_null_rate_is_cohens_h_by_hand() -> None:
    pair = categorical_pair(["a"] * 98 + [None] * 2, ["a"] * 93 + [None] * 7)
    measured = null_rate.measure(pair)
    assert measured is not None
    assert measured.value == pytest.approx(2 * math.asin(math.sqrt(0.07)) - 2 * math.asin(math.sqrt(0.02)))
    assert measured.detail == {"reference": 0.02, "current": 0.07}


def test_cardinality_from_sketches_is_within_their_error_of_exact() -> None:
    ref = [f"id{i}" for i in range(5000)]
    cur = [f"id{i}" for i in range(12_000)]
    measured = cardinality.measure(categorical_pair(ref, cur))
    assert measured is not None
    d_ref, d_cur = float(measured.detail["reference"]), float(measured.detail["current"])  # type: ignore[arg-type]
    assert abs(d_ref - 5000) / 5000 < 3 * 0.011 and abs(d_cur - 12_000) / 12_000 < 3 * 0.011
    assert measured.value == pytest.approx(math.log2(12_000 / 5000), abs=0.1)


def test_top_k_keeps_high_cardinality_noise_far_below_the_threshold() -> None:
    # 50,000 Zipf-distributed ids, no drift: over all values JS would be ~0.1 here; over
    # the top 20 + other it is tiny.
    generator = rng(14)
    ref = [f"i{v}" for v in generator.zipf(1.2, 200_000) % 50_000]
    cur = [f"i{v}" for v in generator.zipf(1.2, 200_000) % 50_000]
    pair = categorical_pair(ref, cur)  # type: ignore[arg-type]
    measured = jensenshannon.measure(pair)
    assert measured is not None and measured.value < 0.01 and measured.noise < 0.01


def test_small_windows_report_insufficient_data_not_drift() -> None:
    ref, cur = rng(15).normal(size=60), rng(16).normal(2.0, size=60)
    verdict, results = run_tests(numeric_pair(ref, cur), Rules())
    assert verdict == INSUFFICIENT
    assert next(r for r in results if r.name == "wasserstein").status == INSUFFICIENT
    # 2,000 values each: the guard lifts (no-drift W about 0.04 < 0.05) and drift shows
    ref, cur = rng(17).normal(size=2000), rng(18).normal(1.0, size=2000)
    verdict, _ = run_tests(numeric_pair(ref, cur), Rules())
    assert verdict == DRIFT


def test_the_guard_uses_the_statistic_noise() -> None:
    # 300 rows and 21 categories: JS noise sqrt(20 * (2/300) / 8) ≈ 0.13 > 0.05
    values = [f"v{i % 21}" for i in range(300)]
    verdict, results = run_tests(categorical_pair(values, values), Rules())
    js = next(r for r in results if r.name == "jensenshannon")
    assert js.status == INSUFFICIENT and js.noise is not None and js.noise > 0.05
    assert verdict == INSUFFICIENT
    big = [f"v{i % 21}" for i in range(20_000)]
    assert run_tests(categorical_pair(big, big), Rules())[0] == NO_DRIFT


def test_large_samples_do_not_make_trivial_differences_drift() -> None:
    # A 0.02-sd shift on 200k rows: KS p-value ~1e-10 (a p-value test calls it drift);
    # every effect size stays far under its threshold.
    ref, cur = rng(19).normal(size=200_000), rng(20).normal(0.03, size=200_000)
    verdict, results = run_tests(numeric_pair(ref, cur), Rules())
    assert verdict == NO_DRIFT
    ks_result = next(r for r in results if r.name == "ks")
    assert float(ks_result.detail["p_value"]) < 1e-6 and ks_result.status == NO_DRIFT


def test_null_rate_decides_for_numeric_columns() -> None:
    ref = rng(21).normal(size=5000)
    cur = rng(22).normal(size=5000)
    cur[:1000] = np.nan
    verdict, results = run_tests(numeric_pair(ref, cur), Rules())
    assert verdict == DRIFT
    assert {r.name for r in results if r.status == DRIFT} == {"null_rate"}


def test_kll_sketch_quantiles_are_within_the_documented_rank_error() -> None:
    values = np.sort(rng(23).lognormal(size=200_000))
    sketch = sketches.kll(values)
    levels = np.arange(1, 100) / 100
    found = sketches.kll_quantiles(sketch, levels.tolist())
    ranks = np.searchsorted(values, found, side="right") / len(values)
    assert np.max(np.abs(ranks - levels)) <= sketches.kll_rank_error()
    assert sketches.kll_rank_error() < 0.008


@pytest.mark.parametrize("name", ["wasserstein", "ks", "psi", "jensenshannon"])
def test_noise_estimates_match_the_no_drift_average(name: str) -> None:
    """The guard's noise is the statistic's typical value when nothing changed (within 25 %)."""
    from recops.drift.counting import count_column, profile_column
    from recops.drift.counts import NUMERIC
    from recops.drift.stats.base import ColumnPair

    generator = rng(30)
    statistic = STATISTICS[name]
    values, noises = [], []
    ref = profile_column("x", NUMERIC, pa.array(generator.normal(size=2000)))
    for _ in range(150):
        cur = count_column("x", NUMERIC, pa.array(generator.normal(size=2000)), ref.binning)
        measured = statistic.measure(ColumnPair("x", NUMERIC, ref.binning, ref.counts, cur.counts))
        assert measured is not None
        values.append(measured.value)
        noises.append(measured.noise)
    assert np.mean(noises) == pytest.approx(np.mean(values), rel=0.25)
