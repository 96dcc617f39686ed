"""Change in the share of missing values, as Cohen's h.

What it measures: ``h = |2 asin(sqrt(p_cur)) - 2 asin(sqrt(p_ref))|`` where p is the
share of rows that are null (or NaN/infinite for numeric columns). The arcsine makes a
change from 0 % to 5 % count more than one from 40 % to 45 %, as it should.

When to use it: always; it decides beside the distribution test for every column,
because a feature that starts arriving empty has drifted even if its remaining values
look the same.

Default threshold: h >= 0.2, Cohen's "small" effect (2 % → 7 % nulls is 0.26; 2 % → 4 %
is 0.12).

Reference: J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 2nd ed.
(1988), ch. 6.
"""

from __future__ import annotations

import math

from recops.drift.counts import CATEGORICAL, NUMERIC
from recops.drift.stats.base import ColumnPair, Measurement, Statistic, inverse_sizes


def cohens_h(p_ref: float, p_cur: float) -> float:
    return abs(2.0 * math.asin(math.sqrt(p_cur)) - 2.0 * math.asin(math.sqrt(p_ref)))


def measure(pair: ColumnPair) -> Measurement | None:
    ref, cur = pair.reference, pair.current
    if not ref.rows or not cur.rows:
        return None
    p_ref, p_cur = ref.missing / ref.rows, cur.missing / cur.rows
    # 2 asin(sqrt(p_hat)) has variance 1/n; the mean absolute difference is sqrt(2/pi) sd.
    noise = math.sqrt(2.0 / math.pi) * math.sqrt(inverse_sizes(ref.rows, cur.rows))
    return Measurement(cohens_h(p_ref, p_cur), noise, {"reference": p_ref, "current": p_cur})


STATISTIC = Statistic(
    name="null_rate",
    title="null rate (Cohen's h)",
    kinds=frozenset({NUMERIC, CATEGORICAL}),
    threshold=0.2,
    measure=measure,
    reference="Cohen (1988): h = 0.2 small, 0.5 medium, 0.8 large",
)
