"""The contract every drift statistic follows, and the views of two windows' counts they read.

A statistic is a pure function of a ``ColumnPair`` (the reference's and the current
window's counts against one binning) that returns a ``Measurement``: its value, its
*noise* (the value it typically takes when nothing changed, given the two windows'
sizes; the small-window guard compares this with the threshold) and details such as a
p-value. Statistics never see rows, so they run unchanged on counts from DuckDB, Spark
or a stored profile.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recops.drift.counts import (
    CATEGORICAL,
    NUMERIC,
    Binning,
    CategoricalBinning,
    CategoricalCounts,
    Counts,
    FloatArray,
    NumericBinning,
    NumericCounts,
)

Detail = dict[str, float | int | str | None]


@dataclass(frozen=True)
class Measurement:
    """A statistic's value for one column, its no-drift noise level, and details."""

    value: float
    noise: float
    detail: Detail = field(default_factory=dict)


@dataclass(frozen=True)
class ColumnPair:
    """One column in the reference and in the current window, counted against the same binning."""

    name: str
    kind: str
    binning: Binning
    reference: Counts
    current: Counts

    @property
    def numeric(self) -> tuple[NumericBinning, NumericCounts, NumericCounts]:
        assert self.kind == NUMERIC and isinstance(self.binning, NumericBinning)
        assert isinstance(self.reference, NumericCounts) and isinstance(self.current, NumericCounts)
        return self.binning, self.reference, self.current

    @property
    def categorical(self) -> tuple[CategoricalBinning, CategoricalCounts, CategoricalCounts]:
        assert self.kind == CATEGORICAL and isinstance(self.binning, CategoricalBinning)
        assert isinstance(self.reference, CategoricalCounts) and isinstance(self.current, CategoricalCounts)
        return self.binning, self.reference, self.current

    def histogram(self) -> tuple[FloatArray, FloatArray, list[str]]:
        """Bin counts for the histogram statistics (PSI, Jensen–Shannon, chi-square) and bin labels.

        Numeric: the reference-decile bins over the non-missing values. Categorical: the
        tracked categories, ``other`` and ``null``.
        """
        if self.kind == NUMERIC:
            binning, ref, cur = self.numeric
            group = binning.coarse_index()
            size = len(binning.coarse) + 1
            p = np.bincount(group, weights=ref.counts.astype(np.float64), minlength=size)
            q = np.bincount(group, weights=cur.counts.astype(np.float64), minlength=size)
            bounds = [-math.inf, *binning.coarse.tolist(), math.inf]
            labels = [f"[{_short(lo)}, {_short(hi)})" for lo, hi in itertools.pairwise(bounds)]
            return np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64), labels
        cat_binning, cref, ccur = self.categorical
        p_cat = np.asarray([*cref.counts.tolist(), cref.other, cref.missing], dtype=np.float64)
        q_cat = np.asarray([*ccur.counts.tolist(), ccur.other, ccur.missing], dtype=np.float64)
        return p_cat, q_cat, [*cat_binning.categories, "(other)", "(null)"]

    def sizes(self) -> tuple[int, int]:
        """Values compared in each window: non-missing for numeric, all rows for categorical."""
        if self.kind == NUMERIC:
            return self.reference.values, self.current.values
        return self.reference.rows, self.current.rows


def _short(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else ("-inf" if value < 0 else "inf")


@dataclass(frozen=True)
class Statistic:
    """A registered statistic.

    Attributes:
        name: registry name (CLI ``--test``, JSON ``test``).
        title: for people.
        kinds: column kinds it applies to.
        threshold: default threshold on the statistic (an effect size).
        measure: the computation; returns None when it cannot be computed (empty window).
        higher_is_drift: always True for our effect sizes.
        reference: where the statistic and its threshold come from.
    """

    name: str
    title: str
    kinds: frozenset[str]
    threshold: float
    measure: Callable[[ColumnPair], Measurement | None]
    reference: str
    higher_is_drift: bool = True


def shares(counts: FloatArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def occupied(p: FloatArray, q: FloatArray) -> int:
    """Bins holding mass in either window (what a distribution over bins really has)."""
    return int(np.count_nonzero((p > 0) | (q > 0)))


def inverse_sizes(n_ref: int, n_cur: int) -> float:
    return 1.0 / n_ref + 1.0 / n_cur
