"""Pearson's chi-square test of homogeneity, judged by its effect size, Cohen's w.

What it measures: the chi-square statistic of the 2 × B table (reference and current
window × the top-k categories, ``other`` and ``null``), and its effect size
``w = sqrt(chi2 / N)`` with N the rows of both windows (for a 2 × B table this is also
Cramér's V). The p-value (no continuity correction) is reported for information; on a
million rows it is 0 for differences nobody would act on, which is why the verdict rests
on w.

When to use it: for categorical columns when you want the classical test beside the
default Jensen–Shannon distance; ``--test categorical=chisquare`` makes it decide.

Default threshold: w >= 0.1, Cohen's "small" effect.

Reference: J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 2nd ed.
(1988), ch. 7; K. Pearson (1900).
"""

from __future__ import annotations

import math

import numpy as np

from recops.drift.counts import CATEGORICAL, FloatArray
from recops.drift.stats._pvalues import chi2_sf
from recops.drift.stats.base import ColumnPair, Measurement, Statistic


def chi_square(p_counts: FloatArray, q_counts: FloatArray) -> tuple[float, int]:
    """Chi-square statistic and degrees of freedom of the 2 × B table (empty bins dropped)."""
    keep = (p_counts > 0) | (q_counts > 0)
    table = np.vstack([p_counts[keep], q_counts[keep]])
    total = table.sum()
    if table.shape[1] < 2 or total == 0:
        return 0.0, 0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    return float(np.sum((table - expected) ** 2 / expected)), int(table.shape[1] - 1)


def measure(pair: ColumnPair) -> Measurement | None:
    p, q, _labels = pair.histogram()
    total = float(p.sum() + q.sum())
    if not p.sum() or not q.sum():
        return None
    statistic, dof = chi_square(p, q)
    w = math.sqrt(statistic / total)
    noise = math.sqrt(dof / total)  # E[chi2] = dof under homogeneity
    return Measurement(w, noise, {"chi2": statistic, "dof": dof, "p_value": chi2_sf(statistic, dof)})


STATISTIC = Statistic(
    name="chisquare",
    title="chi-square (Cohen's w)",
    kinds=frozenset({CATEGORICAL}),
    threshold=0.1,
    measure=measure,
    reference="Cohen (1988): w = 0.1 small, 0.3 medium, 0.5 large",
)
