"""The statistics of the canary and counterfactual checks, as plain functions of numbers.

* :func:`two_proportions` — pooled two-proportion z test (rates such as error rate).
* :func:`ratio_delta` — a ratio of sums (CTR = clicks / impressions) over independent units
  (users) and its delta-method variance, so the correlation of a user's impressions is kept.
* :func:`msprt` — the always-valid mixture sequential probability ratio test of Johari,
  Koomen, Pekelis and Walsh (2017) with a normal mixture over the effect; its p-value may be
  read at every look without inflating the false-alarm rate.
* :func:`mann_whitney` — two-sided Mann–Whitney U (scipy) with the common-language effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ProportionTest:
    """Candidate rate ``x1/n1`` against control ``x0/n0``."""

    rate_control: float
    rate_candidate: float
    z: float
    p_value: float


def two_proportions(x1: float, n1: float, x0: float, n0: float) -> ProportionTest:
    """Pooled two-proportion z test, two-sided.

    Raises:
        ValueError: when a side has no trials.
    """
    if n1 <= 0 or n0 <= 0:
        raise ValueError("both sides need trials")
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (p1 - p0) / se if se > 0 else 0.0
    # two-sided normal p-value: 2·(1 − Φ(|z|)) = erfc(|z|/√2)
    return ProportionTest(p0, p1, z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class Ratio:
    """``sum(num) / sum(den)`` over ``n`` units and the delta-method variance of that ratio."""

    value: float
    variance: float
    n: int
    numerator: float
    denominator: float


def ratio_delta(num: F64 | Sequence[float], den: F64 | Sequence[float]) -> Ratio:
    """The ratio of means of per-unit sums and its delta-method variance.

    With unit means x̄, ȳ and R = x̄/ȳ: Var(R) ≈ (s_xx − 2R s_xy + R² s_yy) / (n ȳ²), the
    sample (co)variances taken with n − 1.

    Raises:
        ValueError: fewer than two units or a zero denominator.
    """
    x = np.asarray(num, dtype=np.float64)
    y = np.asarray(den, dtype=np.float64)
    n = int(x.size)
    if n < 2 or y.sum() <= 0:
        raise ValueError("a ratio needs at least two units and a positive denominator")
    mx, my = float(x.mean()), float(y.mean())
    r = mx / my
    cov = np.cov(np.vstack([x, y]), ddof=1)
    var = float((cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * my * my))
    return Ratio(r, max(var, 0.0), n, float(x.sum()), float(y.sum()))


@dataclass(frozen=True)
class Msprt:
    """An mSPRT reading: the likelihood ratio, the always-valid p-value and interval."""

    difference: float
    variance: float
    likelihood_ratio: float
    p_value: float
    ci_low: float
    ci_high: float


def msprt_lr(difference: float, variance: float, tau2: float) -> float:
    """Λ = sqrt(V / (V + τ²)) · exp(τ² δ² / (2 V (V + τ²))), the normal-mixture likelihood ratio
    of an effect δ estimated with variance V against H0: effect 0 (mixture N(0, τ²))."""
    if variance <= 0:
        return math.inf if difference != 0 else 1.0
    v, t = variance, tau2
    log_lr = 0.5 * math.log(v / (v + t)) + t * difference * difference / (2 * v * (v + t))
    return math.exp(min(log_lr, 700.0))


def msprt_half_width(variance: float, tau2: float, alpha: float) -> float:
    """Half-width of the always-valid (1 − alpha) interval: the δ with Λ = 1/alpha."""
    v, t = variance, tau2
    return math.sqrt(v * (v + t) / t * (2 * math.log(1 / alpha) + math.log((v + t) / v)))


def msprt(
    differences: Sequence[float], variances: Sequence[float], *, tau2: float, alpha: float = 0.05
) -> Msprt:
    """Always-valid test of a difference read at several looks (cumulative estimates, in order).

    The p-value is ``min(1, min over looks of 1/Λ)``; the interval is the intersection of the
    looks' always-valid intervals. Rejecting when p ≤ alpha at any look keeps the type-I
    error at most alpha (Johari et al. 2017), which is what lets an operator watch a canary.

    Raises:
        ValueError: no look, or a non-positive tau2 or alpha outside (0, 1).
    """
    if not differences or len(differences) != len(variances):
        raise ValueError("msprt needs one variance per look and at least one look")
    if tau2 <= 0 or not 0 < alpha < 1:
        raise ValueError("tau2 must be positive and alpha in (0, 1)")
    p, low, high = 1.0, -math.inf, math.inf
    for d, v in zip(differences, variances, strict=True):
        lr = msprt_lr(d, v, tau2)
        p = min(p, 1.0 / lr if lr > 0 else 1.0)
        if v > 0:
            h = msprt_half_width(v, tau2, alpha)
            low, high = max(low, d - h), min(high, d + h)
    d, v = differences[-1], variances[-1]
    return Msprt(d, v, msprt_lr(d, v, tau2), min(1.0, p), low, high)


@dataclass(frozen=True)
class MannWhitney:
    """Two-sided Mann–Whitney U of candidate vs control, with P(candidate > control)."""

    u: float
    p_value: float
    prob_greater: float
    median_control: float
    median_candidate: float
    n_control: int
    n_candidate: int


def mann_whitney(candidate: F64 | Sequence[float], control: F64 | Sequence[float]) -> MannWhitney:
    """Mann–Whitney U (scipy, two-sided, asymptotic with tie correction).

    Raises:
        ValueError: an empty side.
    """
    a = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(control, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("both sides need observations")
    from scipy import stats  # 2 s to import: only when a gate compares distributions

    res = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    u = float(res.statistic)
    return MannWhitney(
        u, float(res.pvalue), u / (a.size * b.size), float(np.median(b)), float(np.median(a)), b.size, a.size
    )
