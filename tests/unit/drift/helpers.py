"""Small builders shared by the drift tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recops.drift.counting import count_column, profile_column
from recops.drift.counts import CATEGORICAL, NUMERIC
from recops.drift.local import run
from recops.drift.sources import ArrowSource
from recops.drift.stats.base import ColumnPair


def numeric_pair(reference: np.ndarray, current: np.ndarray, *, exact: bool = False) -> ColumnPair:
    """Two numeric windows counted the way the engine does (exact mode: one bin per value)."""
    kinds = {"x": NUMERIC}
    ref, cur = run(
        kinds, ArrowSource(pa.table({"x": reference})), ArrowSource(pa.table({"x": current})), top_k=20,
        exact=exact, workers=1,
    )  # fmt: skip
    assert cur is not None
    counted = ref.columns["x"]
    return ColumnPair("x", NUMERIC, counted.binning, counted.counts, cur.columns["x"].counts)


def categorical_pair(reference: list[str | None], current: list[str | None], top_k: int = 20) -> ColumnPair:
    ref = profile_column("c", CATEGORICAL, pa.array(reference, pa.string()), top_k=top_k)
    cur = count_column("c", CATEGORICAL, pa.array(current, pa.string()), ref.binning)
    return ColumnPair("c", CATEGORICAL, ref.binning, ref.counts, cur.counts)
