"""Two-sample Kolmogorov–Smirnov statistic D: the largest gap between the two CDFs.

What it measures: ``D = max |F_ref(x) - F_cur(x)|``. From the reference-percentile bins
it is evaluated at every bin edge, which gives a lower bound of the exact D that is off
by at most the largest bin share of either window (reported as ``max_error``; about 0.01
for continuous data that did not drift). In exact mode (``--exact``) the edges are every
distinct value of both windows and D is exact. The asymptotic p-value is reported for
information only.

When to use it: a scale-free, widely known numeric statistic; ``--test numeric=ks``
makes it decide. It is blind to changes far in the tails, which Wasserstein sees.

Default threshold: D >= 0.1. There is no single conventional cut-off for D as an effect
size; 0.1 is the D of a 0.25-sd mean shift of a normal feature, the same order of
change the other defaults flag.

Reference: N. Smirnov (1948); scipy.stats.ks_2samp (the statistic) and
scipy.special.kolmogorov (the asymptotic p-value).
"""

from __future__ import annotations

import math

import numpy as np

from recops.drift.counts import NUMERIC
from recops.drift.stats._pvalues import kolmogorov_sf
from recops.drift.stats.base import ColumnPair, Measurement, Statistic, inverse_sizes

#: Mean of the Kolmogorov distribution, sqrt(pi / 2) * ln 2.
KOLMOGOROV_MEAN = math.sqrt(math.pi / 2.0) * math.log(2.0)


def measure(pair: ColumnPair) -> Measurement | None:
    binning, ref, cur = pair.numeric
    n_ref, n_cur = ref.values, cur.values
    if not n_ref or not n_cur or not len(binning.edges):
        return None
    f_ref = np.cumsum(ref.counts)[:-1] / n_ref  # F(e-) at each edge
    f_cur = np.cumsum(cur.counts)[:-1] / n_cur
    d = float(np.max(np.abs(f_ref - f_cur)))
    exact = binning.method == "values"
    max_error = 0.0 if exact else float(np.max(np.maximum(ref.counts / n_ref, cur.counts / n_cur)))
    scale = math.sqrt(n_ref * n_cur / (n_ref + n_cur))
    noise = KOLMOGOROV_MEAN * math.sqrt(inverse_sizes(n_ref, n_cur))
    return Measurement(d, noise, {"p_value": kolmogorov_sf(scale * d), "max_error": max_error})


STATISTIC = Statistic(
    name="ks",
    title="Kolmogorov–Smirnov D",
    kinds=frozenset({NUMERIC}),
    threshold=0.1,
    measure=measure,
    reference="Smirnov (1948); D of a 0.25-sd normal mean shift",
)
