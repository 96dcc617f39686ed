"""Change in the number of distinct values, as |log2(current / reference)|.

What it measures: distinct counts from each window's CPC sketch (about 1.1 % relative
error, mergeable across partitions), compared on a log scale: 1.0 means the number of
distinct values doubled or halved.

When to use it: as a hint, not a verdict. It is reported for categorical columns and
never decides by default: the number of distinct ids seen grows with the window's size,
and a shift of traffic between values already shows in the distribution tests. A jump
here with no distribution drift usually means new rare values (a new id format, a new
locale) worth a look.

Default threshold: 1.0 (a doubling or halving).

Reference: K. Lang, "Back to the Future: an Even More Nearly Optimal Cardinality
Estimation Algorithm" (2017), the CPC sketch.
"""

from __future__ import annotations

import math

from recops.drift import sketches
from recops.drift.counts import CATEGORICAL
from recops.drift.stats.base import ColumnPair, Measurement, Statistic


def measure(pair: ColumnPair) -> Measurement | None:
    _binning, ref, cur = pair.categorical
    d_ref, d_cur = sketches.distinct_estimate(ref.distinct), sketches.distinct_estimate(cur.distinct)
    if d_ref <= 0 or d_cur <= 0:
        return None
    value = abs(math.log2(d_cur / d_ref))
    return Measurement(value, 0.0, {"reference": round(d_ref), "current": round(d_cur)})


STATISTIC = Statistic(
    name="cardinality",
    title="distinct values (|log2 ratio|)",
    kinds=frozenset({CATEGORICAL}),
    threshold=1.0,
    measure=measure,
    reference="Lang (2017) for the sketch; threshold: a doubling",
)
