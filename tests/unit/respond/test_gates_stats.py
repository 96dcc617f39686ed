"""The canary statistics against independent computations: hand formulas, scipy, simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sstats

from recops.respond.gates.stats import (
    mann_whitney,
    msprt,
    msprt_half_width,
    msprt_lr,
    ratio_delta,
    two_proportions,
)


def test_two_proportions_matches_the_pooled_z_by_hand() -> None:
    t = two_proportions(30, 1000, 50, 1000)
    p = 80 / 2000
    z = (0.03 - 0.05) / math.sqrt(p * (1 - p) * (2 / 1000))
    assert t.z == pytest.approx(z, rel=1e-12)
    assert t.p_value == pytest.approx(2 * sstats.norm.cdf(-abs(z)), rel=1e-12)


def test_ratio_delta_on_a_small_example_by_hand() -> None:
    x = [1.0, 0.0, 2.0, 1.0]
    y = [10.0, 5.0, 12.0, 8.0]
    n, mx, my = 4, 1.0, 8.75
    r = mx / my
    # linearized residuals x_i - R y_i, their sample variance over n * ybar^2
    resid = [a - r * b for a, b in zip(x, y, strict=True)]
    mean = sum(resid) / n
    var = sum((e - mean) ** 2 for e in resid) / (n - 1) / (n * my * my)
    out = ratio_delta(x, y)
    assert out.value == pytest.approx(r, rel=1e-12)
    assert out.variance == pytest.approx(var, rel=1e-10)


def test_ratio_delta_variance_matches_the_spread_of_simulated_ratios() -> None:
    rng = np.random.default_rng(11)
    users, reps = 800, 1500
    imps = rng.poisson(rng.gamma(2.0, 10.0, (reps, users))) + 1  # heavy users see many items
    rate = rng.beta(2, 40, (reps, users))  # a user's own CTR: clicks of a user are correlated
    clicks = rng.binomial(imps, rate)
    ratios = clicks.sum(axis=1) / imps.sum(axis=1)
    predicted = np.array([ratio_delta(clicks[i], imps[i]).variance for i in range(200)])
    assert predicted.mean() == pytest.approx(ratios.var(ddof=1), rel=0.12)
    # the naive binomial variance ignores the clustering and is clearly smaller
    naive = (ratios.mean() * (1 - ratios.mean()) / imps.sum(axis=1)).mean()
    assert naive < 0.8 * ratios.var(ddof=1)


def test_msprt_likelihood_ratio_and_interval_by_hand() -> None:
    d, v, t2 = 0.004, 1e-6, 4e-6
    lr = math.sqrt(v / (v + t2)) * math.exp(t2 * d * d / (2 * v * (v + t2)))
    assert msprt_lr(d, v, t2) == pytest.approx(lr, rel=1e-12)
    h = msprt_half_width(v, t2, 0.05)
    assert msprt_lr(h, v, t2) == pytest.approx(1 / 0.05, rel=1e-9)  # the interval's edge is where Λ = 1/α
    out = msprt([d], [v], tau2=t2)
    assert out.p_value == pytest.approx(min(1.0, 1 / lr), rel=1e-12)
    assert out.ci_low == pytest.approx(d - h) and out.ci_high == pytest.approx(d + h)


def test_msprt_p_value_is_the_running_minimum_over_looks() -> None:
    looks_d, looks_v = [0.01, 0.002, 0.0], [1e-4, 2e-5, 1e-5]
    expected = min(1.0, *(1 / msprt_lr(d, v, 1e-4) for d, v in zip(looks_d, looks_v, strict=True)))
    assert msprt(looks_d, looks_v, tau2=1e-4).p_value == pytest.approx(expected)


def test_msprt_keeps_type_one_error_under_continuous_monitoring() -> None:
    """Under H0, 4,000 experiments watched at 60 looks each: the mSPRT rejects at most about
    alpha; a fixed-horizon z test read at every look rejects far more often."""
    rng = np.random.default_rng(5)
    runs, looks, alpha = 4000, 60, 0.05
    step_var = 1.0
    increments = rng.normal(0.0, math.sqrt(step_var), (runs, looks))
    sums = increments.cumsum(axis=1)
    n = np.arange(1, looks + 1)
    diff = sums / n  # the running mean estimates the effect (0)
    var = step_var / n
    tau2 = 0.25
    log_lr = 0.5 * np.log(var / (var + tau2)) + tau2 * diff**2 / (2 * var * (var + tau2))
    rejected = (log_lr >= math.log(1 / alpha)).any(axis=1)
    # the library agrees with the vectorized formula on a sample of runs
    for i in range(0, runs, 400):
        assert (msprt(list(diff[i]), list(var), tau2=tau2).p_value <= alpha) == rejected[i]
    rate = rejected.mean()
    se = math.sqrt(alpha * (1 - alpha) / runs)
    assert rate <= alpha + 3 * se
    peeking = (np.abs(diff / np.sqrt(var)) > sstats.norm.ppf(1 - alpha / 2)).any(axis=1).mean()
    assert peeking > 2 * alpha


def test_msprt_detects_a_real_effect() -> None:
    rng = np.random.default_rng(6)
    incr = rng.normal(0.5, 1.0, 400)
    n = np.arange(1, 401)
    out = msprt(list(incr.cumsum() / n), list(1.0 / n), tau2=0.25)
    assert out.p_value < 1e-6 and out.ci_low > 0


def test_mann_whitney_matches_scipy_and_a_pairwise_count() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.lognormal(3.1, 0.4, 300), rng.lognormal(3.0, 0.4, 250)
    out = mann_whitney(a, b)
    ref = sstats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    assert out.u == pytest.approx(ref.statistic) and out.p_value == pytest.approx(ref.pvalue)
    pairs = (a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
    assert out.prob_greater == pytest.approx(pairs, rel=1e-12)
