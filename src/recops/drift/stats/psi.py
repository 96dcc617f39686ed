"""Population Stability Index (PSI) between the reference's and the current window's bin shares.

What it measures: ``sum((q - p) * ln(q / p))`` over bins, a symmetrized Kullback–Leibler
divergence. Numeric columns use the reference-decile bins (10 bins), categorical columns
the top-k categories plus ``other`` and ``null``. Shares of 0 are replaced by 0.0001 (as
Evidently does), so a bin that empties or appears still counts without being infinite.

When to use it: the credit-scoring tradition and many monitoring dashboards speak PSI;
it is reported for every column, but it does not decide numeric verdicts by default
because a 0.3-sd mean shift of a normal feature gives PSI ≈ 0.09, under every common
cut-off.

Default threshold: 0.2 ("significant shift"; < 0.1 is read as stable, 0.1–0.2 as a
moderate shift).

Reference: B. Yurdakul, "Statistical Properties of Population Stability Index", PhD
thesis, Western Michigan University (2018); N. Siddiqi, "Credit Risk Scorecards", Wiley
(2006), ch. 8.
"""

from __future__ import annotations

import numpy as np

from recops.drift.counts import CATEGORICAL, NUMERIC, FloatArray
from recops.drift.stats.base import ColumnPair, Measurement, Statistic, inverse_sizes, occupied, shares

FLOOR = 1e-4


def psi(p_counts: FloatArray, q_counts: FloatArray) -> float:
    """PSI of two count vectors over the same bins (bins empty in both are ignored)."""
    p, q = shares(p_counts), shares(q_counts)
    keep = (p > 0) | (q > 0)
    p = np.where(p[keep] == 0, FLOOR, p[keep])
    q = np.where(q[keep] == 0, FLOOR, q[keep])
    return float(np.sum((q - p) * np.log(q / p)))


def measure(pair: ColumnPair) -> Measurement | None:
    p, q, _labels = pair.histogram()
    n_ref, n_cur = int(p.sum()), int(q.sum())
    if not n_ref or not n_cur:
        return None
    # Under no drift PSI ≈ a chi-square with (bins - 1) dof scaled by (1/n + 1/m).
    noise = max(occupied(p, q) - 1, 0) * inverse_sizes(n_ref, n_cur)
    return Measurement(psi(p, q), noise, {"bins": occupied(p, q)})


STATISTIC = Statistic(
    name="psi",
    title="PSI",
    kinds=frozenset({NUMERIC, CATEGORICAL}),
    threshold=0.2,
    measure=measure,
    reference="Yurdakul (2018); Siddiqi (2006)",
)
