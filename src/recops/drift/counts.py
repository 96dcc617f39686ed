"""What the drift engine counts: binnings fixed by the reference, and mergeable window counts.

A *binning* is decided once, from the reference: sorted edges for a numeric column
(reference-quantile bins), the reference's most frequent values for a categorical one.
A window's *counts* are exact counts against that binning plus a few exact sums; they
merge by addition, so counts of partitions, files or days add up to the counts of the
whole. Every statistic in ``recops.drift.stats`` is a function of two windows' counts.

Numeric bins are ``(-inf, e0), [e0, e1), ..., [e_last, +inf)``: ``len(edges) + 1`` bins.
Beside the count of each bin we keep its *tail sum*: for every bin with a finite upper
edge ``b``, the sum of ``b - x`` over its values; for the last bin, the sum of
``x - e_last``. These are non-negative, merge by addition, and give the exact integral
of the empirical CDF over each bin, which is what Wasserstein needs (see
``stats/wasserstein.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NumericBinning:
    """Bin edges for one numeric column, chosen from the reference.

    Attributes:
        edges: the fine edges, strictly increasing (reference percentiles, or every
            distinct value of both windows in exact mode).
        coarse: the coarse edges (reference deciles), a subset of ``edges``; PSI and
            Jensen–Shannon use these bins.
        shift: the reference median; sums are kept relative to it so that large offsets
            (timestamps, ids) do not cost precision.
        method: ``"exact"`` (quantiles of the whole column), ``"sketch"`` (KLL) or
            ``"values"`` (exact mode: every distinct value).
    """

    edges: FloatArray
    coarse: FloatArray
    shift: float
    method: str = "exact"

    @property
    def bins(self) -> int:
        return len(self.edges) + 1

    def coarse_index(self) -> npt.NDArray[np.intp]:
        """For each fine bin, the coarse bin that contains it."""
        lower = np.concatenate([[-math.inf], self.edges])
        return np.searchsorted(self.coarse, lower, side="right")

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": self.edges.tolist(),
            "coarse": self.coarse.tolist(),
            "shift": self.shift,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericBinning:
        return cls(
            edges=np.asarray(data["edges"], dtype=np.float64),
            coarse=np.asarray(data["coarse"], dtype=np.float64),
            shift=float(data["shift"]),
            method=str(data.get("method", "exact")),
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NumericBinning)
            and np.array_equal(self.edges, other.edges)
            and np.array_equal(self.coarse, other.coarse)
            and self.shift == other.shift
        )

    def __hash__(self) -> int:  # pragma: no cover - binnings are not used as keys
        return hash((self.edges.tobytes(), self.coarse.tobytes(), self.shift))


@dataclass(frozen=True)
class CategoricalBinning:
    """The categories tracked for one categorical column: the reference's top-k values.

    Everything else is counted as ``other``; nulls have their own bin.
    """

    categories: tuple[str, ...]

    @property
    def bins(self) -> int:
        return len(self.categories) + 2

    def to_dict(self) -> dict[str, Any]:
        return {"categories": list(self.categories)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalBinning:
        return cls(tuple(str(c) for c in data["categories"]))


Binning = NumericBinning | CategoricalBinning


@dataclass
class NumericCounts:
    """Exact counts of one numeric column in one window, against a ``NumericBinning``.

    Attributes:
        rows: rows in the window.
        missing: nulls, NaN and infinities (all count as missing).
        counts: values per bin (``binning.bins`` of them).
        tails: the tail sum of each bin (module docstring).
        sum_d: sum of ``x - shift`` over the values.
        sum_d2: sum of ``(x - shift) ** 2``.
        minimum, maximum: of the values (NaN when there are none).
    """

    rows: int
    missing: int
    counts: IntArray
    tails: FloatArray
    sum_d: float = 0.0
    sum_d2: float = 0.0
    minimum: float = math.nan
    maximum: float = math.nan

    @property
    def values(self) -> int:
        return int(self.counts.sum())

    def mean(self, shift: float) -> float:
        n = self.values
        return shift + self.sum_d / n if n else math.nan

    def std(self) -> float:
        """Population standard deviation (as ``numpy.std``)."""
        n = self.values
        if not n:
            return math.nan
        centered = self.sum_d / n
        return math.sqrt(max(self.sum_d2 / n - centered * centered, 0.0))

    def merge(self, other: NumericCounts) -> NumericCounts:
        return NumericCounts(
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            counts=self.counts + other.counts,
            tails=self.tails + other.tails,
            sum_d=self.sum_d + other.sum_d,
            sum_d2=self.sum_d2 + other.sum_d2,
            minimum=float(np.fmin(self.minimum, other.minimum)),
            maximum=float(np.fmax(self.maximum, other.maximum)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "missing": self.missing,
            "counts": self.counts.tolist(),
            "tails": self.tails.tolist(),
            "sum_d": self.sum_d,
            "sum_d2": self.sum_d2,
            "minimum": _json_float(self.minimum),
            "maximum": _json_float(self.maximum),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericCounts:
        return cls(
            rows=int(data["rows"]),
            missing=int(data["missing"]),
            counts=np.asarray(data["counts"], dtype=np.int64),
            tails=np.asarray(data["tails"], dtype=np.float64),
            sum_d=float(data["sum_d"]),
            sum_d2=float(data["sum_d2"]),
            minimum=_from_json_float(data["minimum"]),
            maximum=_from_json_float(data["maximum"]),
        )


@dataclass
class CategoricalCounts:
    """Exact counts of one categorical column in one window, against a ``CategoricalBinning``.

    Attributes:
        rows: rows in the window.
        missing: nulls.
        counts: rows per tracked category, in the binning's order.
        other: non-null rows with any other value.
        distinct: a serialized CPC sketch of the distinct values (mergeable).
        frequent: a serialized frequent-items sketch (mergeable): the window's own top
            values, for reports and for choosing a binning from a sketch.
    """

    rows: int
    missing: int
    counts: IntArray
    other: int
    distinct: bytes = b""
    frequent: bytes = b""

    @property
    def values(self) -> int:
        return int(self.counts.sum()) + self.other

    def merge(self, other: CategoricalCounts) -> CategoricalCounts:
        from recops.drift import sketches

        return CategoricalCounts(
            rows=self.rows + other.rows,
            missing=self.missing + other.missing,
            counts=self.counts + other.counts,
            other=self.other + other.other,
            distinct=sketches.merge_distinct(self.distinct, other.distinct),
            frequent=sketches.merge_frequent(self.frequent, other.frequent),
        )

    def to_dict(self) -> dict[str, Any]:
        import base64

        return {
            "rows": self.rows,
            "missing": self.missing,
            "counts": self.counts.tolist(),
            "other": self.other,
            "distinct": base64.b64encode(self.distinct).decode("ascii"),
            "frequent": base64.b64encode(self.frequent).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalCounts:
        import base64

        return cls(
            rows=int(data["rows"]),
            missing=int(data["missing"]),
            counts=np.asarray(data["counts"], dtype=np.int64),
            other=int(data["other"]),
            distinct=base64.b64decode(data.get("distinct", "")),
            frequent=base64.b64decode(data.get("frequent", "")),
        )


Counts = NumericCounts | CategoricalCounts


@dataclass
class ColumnCounts:
    """One column of one window: its kind, the binning it was counted against, the counts."""

    name: str
    kind: str
    binning: Binning
    counts: Counts
    quantiles: bytes = b""  # a serialized KLL sketch, when asked for (profiles)
    extra: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: ColumnCounts) -> ColumnCounts:
        from recops.drift import sketches

        if self.binning != other.binning:
            raise ValueError(f"column {self.name}: counts against different binnings cannot be merged")
        merged = self.counts.merge(other.counts)  # type: ignore[arg-type]
        return ColumnCounts(
            self.name,
            self.kind,
            self.binning,
            merged,
            sketches.merge_kll(self.quantiles, other.quantiles),
        )


def empty_counts(binning: Binning) -> Counts:
    if isinstance(binning, NumericBinning):
        return NumericCounts(
            rows=0,
            missing=0,
            counts=np.zeros(binning.bins, dtype=np.int64),
            tails=np.zeros(binning.bins, dtype=np.float64),
        )
    return CategoricalCounts(rows=0, missing=0, counts=np.zeros(len(binning.categories), np.int64), other=0)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


def _from_json_float(value: float | None) -> float:
    return math.nan if value is None else float(value)
