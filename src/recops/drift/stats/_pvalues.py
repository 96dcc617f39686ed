"""Two survival functions, so p-values need no scipy at run time (tests check them against scipy).

P-values are reported for information only: verdicts rest on effect sizes (docs/drift.md).
"""

from __future__ import annotations

import math

_EPS = 1e-15
_TINY = 1e-300


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution (the asymptotic two-sample KS p-value).

    Uses the alternating series for lam >= 1 and the Jacobi-theta form below it, both of
    which converge in a handful of terms.
    """
    if lam <= 0:
        return 1.0
    if lam >= 1.0:
        total = 0.0
        for k in range(1, 101):
            term = math.exp(-2.0 * k * k * lam * lam)
            total += term if k % 2 else -term
            if term < _EPS:
                break
        return min(max(2.0 * total, 0.0), 1.0)
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8.0 * lam * lam))
        total += term
        if term < _EPS * max(total, _TINY):
            break
    return min(max(1.0 - math.sqrt(2.0 * math.pi) / lam * total, 0.0), 1.0)


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for a chi-square variable with ``dof`` degrees of freedom."""
    if dof <= 0:
        return math.nan
    if statistic <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, statistic / 2.0)


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) (series or continued fraction)."""
    log_prefactor = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return min(max(1.0 - total * math.exp(log_prefactor), 0.0), 1.0)
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = d if abs(d) > _TINY else _TINY
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return min(max(math.exp(log_prefactor) * h, 0.0), 1.0)
