"""The counting definition: Arrow columns in, binnings and mergeable counts out.

This is the one place that turns data into numbers. Every engine feeds it Arrow: the
local engine whole columns read from Parquet or from DuckDB, Spark the record batches of
each partition (``mapInArrow``), after which the partial counts are merged. Nothing here
knows which engine called it, so DuckDB and Spark give the same counts (decision 0020).

A numeric column counted against a known binning goes through the compiled kernel
``_binning`` (decision 0057): one pass per value, a lookup table then a branch-free
search, about 2.3 ms a million values here. Without it (no C compiler at install time),
and whenever the column must also be sorted (reference profiles, KLL sketches), it is
counted by sorting: numpy's vectorized sort of a million doubles takes 3.8 ms in
cache-sized rows, after which the count below every edge is one binary search and every
bin's tail sum one segmented sum. Per-value binning in numpy or SQL was slower than
that: a binary search of each value among 99 edges (35 ms a million), a lookup table of
edge cells with one correction and two ``bincount`` calls (4.5 ms), ``np.partition`` at
100 ranks (33 ms). Both ways give the same counts, and sums equal to rounding.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from recops.drift import columnar, sketches
from recops.drift.counts import (
    CATEGORICAL,
    NUMERIC,
    Binning,
    CategoricalBinning,
    CategoricalCounts,
    ColumnCounts,
    FloatArray,
    IntArray,
    NumericBinning,
    NumericCounts,
)

try:
    from recops.drift import _binning as kernel
except ImportError:  # built without a C compiler: count by sorting
    kernel = None  # type: ignore[assignment]

#: Fine bins: reference percentiles (99 edges, 100 bins of 1 % each for continuous data).
FINE_LEVELS = 100
#: Coarse bins for PSI and Jensen–Shannon: reference deciles (common practice, 10 bins).
COARSE_LEVELS = 10
#: Categories tracked per categorical column (the rest is ``other``).
TOP_K = 20


def column_kind(dtype: pa.DataType) -> str | None:
    """The kind a column of this Arrow type is compared as, or None when it is not compared."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_boolean(dtype):
        return CATEGORICAL
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return NUMERIC
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return CATEGORICAL
    return None


# --- numeric -----------------------------------------------------------------------------------------


_scratch = threading.local()


def use_scratch(enabled: bool = True) -> None:
    """Let this thread reuse one buffer per slot for sorting instead of allocating per column.

    Fresh memory costs a page fault per 4 KB on first touch, which in a VM is a quarter of
    the cost of sorting it; the local engine's worker threads turn this on. A scratch
    array is valid only until the thread's next call with the same slot.
    """
    _scratch.enabled = enabled
    _scratch.buffers = {}


def _buffer(n: int, slot: int) -> FloatArray:
    if not getattr(_scratch, "enabled", False):
        return np.empty(n, dtype=np.float64)
    buffers: dict[int, FloatArray] = _scratch.buffers
    buffer = buffers.get(slot)
    if buffer is None or len(buffer) < n:
        buffer = buffers[slot] = np.empty(n, dtype=np.float64)
    return buffer[:n]


def _chunks(column: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return [chunk for chunk in chunks if len(chunk)]


def float_values(column: pa.Array | pa.ChunkedArray, *, slot: int = 0) -> FloatArray:
    """The column as float64 in an array we own (nulls as NaN): one pass, no intermediate copy."""
    chunks = _chunks(column)
    values = _buffer(sum(len(chunk) for chunk in chunks), slot)
    columnar.fill_floats(chunks, values)
    return values


def sorted_values(column: pa.Array | pa.ChunkedArray, *, slot: int = 0) -> tuple[FloatArray, int]:
    """The finite values of a numeric column, sorted, in a float64 array we own; and the missing count.

    Nulls, NaN and infinities count as missing. Nulls become NaN on conversion and NaN
    sorts last, infinities next to the ends, so after one sort the finite values are a
    contiguous slice found by two binary searches (no extra pass over the data).
    """
    values = float_values(column, slot=slot)
    values.sort()
    finite = _finite_slice(values)
    return finite, len(column) - len(finite)


#: Counting against a known binning sorts the column as rows of this many values, all rows
#: in one call: a row (256 KiB) fits in a core's cache, so a million values sort in 3.8 ms
#: instead of 5.1 ms whole (4.4 ms in 128Ki-value pieces), and the rows' counts add up.
#: Wider rows mean fewer binary searches, each a call that takes the interpreter lock.
SORT_ROW = 32_768
#: Counts below this probe are the -inf values (no finite double is smaller).
_BELOW_FINITE = -np.finfo(np.float64).max


@dataclass
class _SortedRows:
    """A column copied into rows of ``SORT_ROW`` values, each sorted, with a 0 after the last row.

    ``marks[r]`` are row r's counts below ``-max double``, below each edge and below +inf:
    its finite values are ``[marks[r, 0], marks[r, -1])`` and bin j is
    ``[marks[r, j], marks[r, j + 1])``. Padding after the column's last value is NaN.
    """

    flat: FloatArray
    rows: FloatArray
    marks: npt.NDArray[np.intp]

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray, edges: FloatArray) -> _SortedRows:
        chunks = _chunks(column)
        n = sum(len(chunk) for chunk in chunks)
        width = min(SORT_ROW, n)
        count = -(-n // width)
        flat = _buffer(count * width + 1, slot=0)
        columnar.fill_floats(chunks, flat[:n])
        flat[n:-1] = np.nan
        flat[-1] = 0.0  # so that every reduceat start, even one past the last row, is in range
        rows = flat[:-1].reshape(count, width)
        rows.sort(axis=1)  # numpy sorts each row in place, with the GIL released
        probes = np.concatenate([[_BELOW_FINITE], edges, [math.inf]])
        marks = np.empty((count, len(probes)), dtype=np.intp)
        for r in range(count):
            marks[r] = np.searchsorted(rows[r], probes, side="left")
        return cls(flat, rows, marks)

    def finite(self) -> Iterator[FloatArray]:
        """Each row's finite values."""
        for row, (low, high) in zip(self.rows, self.marks[:, [0, -1]].tolist(), strict=True):
            yield row[low:high]

    def extremes(self) -> tuple[float, float]:
        """The smallest and largest finite value (NaN when there is none)."""
        low, high = self.marks[:, 0], self.marks[:, -1]
        filled = np.flatnonzero(high > low)
        if not len(filled):
            return math.nan, math.nan
        return float(self.rows[filled, low[filled]].min()), float(self.rows[filled, high[filled] - 1].max())

    def center(self, shift: float) -> None:
        """Subtract ``shift`` from every value and set the non-finite ones to 0, so sums skip them."""
        self.rows -= shift
        width = self.rows.shape[1]
        for r, (low, high) in enumerate(self.marks[:, [0, -1]].tolist()):
            if low > 0 or high < width:
                self.rows[r, :low] = 0.0
                self.rows[r, high:] = 0.0

    def bin_sums(self, counts: IntArray) -> FloatArray:
        """Per bin, the sum of the centered values, from one segmented sum over every row.

        A row's last bin runs on into the next row's zeros; an empty bin's segmented sum
        is one stray value, so it is set to 0 (``counts`` holds the per-row bin counts).
        """
        width = self.rows.shape[1]
        starts = self.marks[:, :-1] + (np.arange(len(self.marks)) * width)[:, None]
        sums = np.add.reduceat(self.flat, starts.ravel()).reshape(counts.shape)
        sums[counts == 0] = 0.0
        return np.asarray(sums.sum(axis=0), dtype=np.float64)


def count_numeric(
    column: pa.Array | pa.ChunkedArray, binning: NumericBinning, *, quantiles: bool = False
) -> tuple[NumericCounts, bytes]:
    """Counts of an unsorted column against ``binning``, and its KLL sketch when ``quantiles``.

    The counts equal ``numeric_counts`` of the sorted column. Without a sketch to build
    they come from the compiled kernel; otherwise the column is sorted in rows
    (``SORT_ROW``), each row's counts below the edges are a binary search, and the sums
    of every bin of every row are one segmented sum.
    """
    if not len(column):
        return numeric_counts(np.empty(0), binning, 0, 0), b""
    if kernel is not None and not quantiles:
        return _count_in_one_pass(column, binning), b""
    sorted_rows = _SortedRows.of(column, binning.edges)
    per_row: IntArray = np.diff(sorted_rows.marks, axis=1).astype(np.int64)
    counts = per_row.sum(axis=0)
    sketch = sketches.kll_pieces(sorted_rows.finite()) if quantiles else b""
    minimum, maximum = sorted_rows.extremes()
    sorted_rows.center(binning.shift)
    sums = sorted_rows.bin_sums(per_row)
    return (
        NumericCounts(
            rows=len(column),
            missing=len(column) - int(counts.sum()),
            counts=counts,
            tails=_tails(counts, sums, binning),
            sum_d=float(sums.sum()),
            sum_d2=float(np.einsum("i,i->", sorted_rows.flat, sorted_rows.flat)),
            minimum=minimum,
            maximum=maximum,
        ),
        sketch,
    )


def _count_in_one_pass(column: pa.Array | pa.ChunkedArray, binning: NumericBinning) -> NumericCounts:
    """``count_numeric`` by the compiled kernel, chunk by chunk (float64 chunks without nulls uncopied)."""
    edges = np.ascontiguousarray(binning.edges, dtype=np.float64)
    counts: IntArray = np.zeros(len(edges) + 1, dtype=np.int64)
    sums: FloatArray = np.zeros(len(edges) + 1, dtype=np.float64)
    missing, sum_d2, minimum, maximum = 0, 0.0, math.inf, -math.inf
    for chunk in _chunks(column):
        values: FloatArray
        if chunk.type == pa.float64() and not chunk.null_count:  # a view, not to_numpy (it imports pandas)
            values = np.asarray(columnar.values_view(chunk), dtype=np.float64)
        else:
            values = _buffer(len(chunk), slot=0)
            columnar.fill_floats([chunk], values)
        lost, squares, low, high = kernel.count(values, edges, binning.shift, counts, sums)
        missing, sum_d2 = missing + lost, sum_d2 + squares
        minimum, maximum = min(minimum, low), max(maximum, high)
    if not counts.any():
        minimum = maximum = math.nan
    return NumericCounts(
        rows=len(column),
        missing=missing,
        counts=counts,
        tails=_tails(counts, sums, binning),
        sum_d=float(sums.sum()),
        sum_d2=sum_d2,
        minimum=minimum,
        maximum=maximum,
    )


def _finite_slice(ordered: FloatArray) -> FloatArray:
    """NaN sorts last and infinities next to the ends: the finite values are one slice."""
    if len(ordered) and not (math.isfinite(ordered[0]) and math.isfinite(ordered[-1])):
        low = int(np.searchsorted(ordered, -math.inf, side="right"))
        high = int(np.searchsorted(ordered, math.inf, side="left"))
        return ordered[low:high]
    return ordered


def level_positions(n: int, levels: int) -> npt.NDArray[np.intp]:
    """0-based positions of the quantiles at k/levels (k = 1..levels-1) in n sorted values.

    The inverted-CDF quantile (type 1): the smallest x with F(x) >= k/levels, i.e. the
    value at position ceil(k n / levels) - 1; integer arithmetic, so no rounding surprises.
    """
    k = np.arange(1, levels, dtype=np.int64)
    return np.asarray((k * n + levels - 1) // levels - 1, dtype=np.intp)


def exact_binning(sorted_values: FloatArray) -> NumericBinning:
    """Reference-quantile bins from the whole sorted column (exact)."""
    n = len(sorted_values)
    if n == 0:
        return NumericBinning(np.empty(0), np.empty(0), 0.0, "exact")
    edges = np.unique(sorted_values[level_positions(n, FINE_LEVELS)])
    coarse = np.unique(sorted_values[level_positions(n, COARSE_LEVELS)])
    shift = float(sorted_values[(n + 1) // 2 - 1])
    return NumericBinning(edges, coarse, shift, "exact")


def sketch_binning(kll: bytes) -> NumericBinning:
    """Reference-quantile bins read from a KLL sketch (ranks within the sketch's error)."""
    if not sketches.kll_count(kll):
        return NumericBinning(np.empty(0), np.empty(0), 0.0, "sketch")
    fine = sketches.kll_quantiles(kll, [k / FINE_LEVELS for k in range(1, FINE_LEVELS)])
    coarse = sketches.kll_quantiles(kll, [k / COARSE_LEVELS for k in range(1, COARSE_LEVELS)])
    shift = float(sketches.kll_quantiles(kll, [0.5])[0])
    return NumericBinning(np.unique(fine), np.unique(coarse), shift, "sketch")


def values_binning(reference_sorted: FloatArray, current_sorted: FloatArray) -> NumericBinning:
    """Exact mode: one bin per distinct value of either window, so KS and Wasserstein are exact.

    The coarse bins stay the reference deciles, which are reference values and hence edges.
    """
    base = exact_binning(reference_sorted)
    edges = np.unique(np.concatenate([reference_sorted, current_sorted]))
    return NumericBinning(edges, base.coarse, base.shift, "values")


def numeric_counts(
    sorted_finite: FloatArray, binning: NumericBinning, rows: int, missing: int
) -> NumericCounts:
    """Counts of sorted finite values against ``binning`` (see ``counts`` for the tail sums).

    The array is used as scratch space (shifted in place) to save a copy per column.
    """
    n = len(sorted_finite)
    edges = binning.edges
    below = np.searchsorted(sorted_finite, edges, side="left")  # values < each edge
    bounds = np.concatenate([[0], below, [n]]).astype(np.int64)
    counts: IntArray = np.diff(bounds)
    if n == 0:
        return NumericCounts(rows=rows, missing=missing, counts=counts, tails=np.zeros(len(counts)))
    minimum, maximum = float(sorted_finite[0]), float(sorted_finite[-1])
    centered = sorted_finite
    centered -= binning.shift
    filled = counts > 0
    sums = np.zeros(len(counts), dtype=np.float64)
    sums[filled] = np.add.reduceat(centered, bounds[:-1][filled])
    return NumericCounts(
        rows=rows,
        missing=missing,
        counts=counts,
        tails=_tails(counts, sums, binning),
        sum_d=float(sums.sum()),
        sum_d2=float(np.einsum("i,i->", centered, centered)),  # np.dot: idle BLAS threads spin
        minimum=minimum,
        maximum=maximum,
    )


def _tails(counts: IntArray, sums: FloatArray, binning: NumericBinning) -> FloatArray:
    """Each bin's tail sum (``counts``) from its count and its sum of values minus the shift."""
    tails: FloatArray = np.zeros(len(counts), dtype=np.float64)
    if len(binning.edges):
        upper = binning.edges - binning.shift
        tails[:-1] = counts[:-1] * upper - sums[:-1]
        tails[-1] = sums[-1] - counts[-1] * upper[-1]
    np.maximum(tails, 0.0, out=tails)  # rounding can leave -1e-17 where the true value is 0
    return tails


# --- categorical -------------------------------------------------------------------------------------


@dataclass
class ValueCounts:
    """Exact counts of every distinct non-null value of a column (values as text)."""

    values: pa.Array
    counts: IntArray
    rows: int
    missing: int

    def top(self, k: int) -> tuple[str, ...]:
        """The k most frequent values, most frequent first, ties by value."""
        order = self.top_indices(k)
        names = self.values.take(columnar.int64_array(order)).to_pylist()
        return tuple(str(name) for name in names)

    def top_indices(self, k: int) -> npt.NDArray[np.intp]:
        """Positions of the k most frequent values, most frequent first, ties by value."""
        n = len(self.counts)
        if n == 0 or k <= 0:
            return np.zeros(0, dtype=np.intp)
        if n > k:
            kth = np.partition(self.counts, n - k)[n - k]
            candidates = np.flatnonzero(self.counts >= kth)  # every value tied with the k-th is a candidate
        else:
            candidates = np.arange(n)
        names = np.asarray(self.values.take(columnar.int64_array(candidates)).to_pylist(), dtype=object)
        order = sorted(range(len(candidates)), key=lambda i: (-int(self.counts[candidates[i]]), names[i]))
        return np.asarray(candidates[order[:k]], dtype=np.intp)


def value_counts(column: pa.Array | pa.ChunkedArray) -> ValueCounts:
    """Count every distinct value: a bincount of dictionary indices under one dictionary.

    Parquet strings arrive dictionary-encoded (one dictionary per row group, unified
    here); other columns are encoded first, which hashes every value once. (Grouping with
    ``Table.group_by`` would import ``pyarrow.dataset`` and pandas, 0.2 s.)
    """
    rows = len(column)
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()  # a chunked column gets one dictionary for all chunks
    elif isinstance(column, pa.ChunkedArray) and column.num_chunks > 1:
        column = column.unify_dictionaries()
    chunks = _chunks(column)
    if not chunks:
        return ValueCounts(columnar.string_array([]), np.zeros(0, np.int64), rows, rows)
    dictionary = chunks[0].dictionary
    tally = np.zeros(len(dictionary) + 1, dtype=np.int64)
    for chunk in chunks:
        tally += np.bincount(columnar.indices(chunk.indices, null=len(dictionary)), minlength=len(tally))
    values, counts = _as_text(dictionary), tally[: len(dictionary)]
    keep = counts > 0
    valid = columnar.valid_mask(values)
    if valid is not None:
        keep &= valid
    if not keep.all():
        values, counts = values.take(columnar.int64_array(np.flatnonzero(keep))), counts[keep]
    return ValueCounts(values, counts, rows, rows - int(counts.sum()))


def _as_text(values: pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        return values.cast(pa.string())
    return pc.cast(values, pa.string())


def categorical_binning(counted: ValueCounts, top_k: int = TOP_K) -> CategoricalBinning:
    return CategoricalBinning(counted.top(top_k))


def categorical_counts(counted: ValueCounts, binning: CategoricalBinning) -> CategoricalCounts:
    """Counts against the tracked categories, plus the distinct and frequent-items sketches."""
    tracked = np.zeros(len(binning.categories), dtype=np.int64)
    if len(counted.values) and binning.categories:
        where = pc.index_in(counted.values, value_set=columnar.string_array(binning.categories))
        index = columnar.indices(where, null=-1)
        known = index >= 0
        np.add.at(tracked, index[known], counted.counts[known])
    names = counted.values.to_pylist()
    # The frequent-items sketch sees this chunk's most frequent values only (as many as it
    # has counters): their counts are exact, and feeding a 50,000-value tail one by one
    # would cost more than counting the column.
    heavy = counted.top_indices(sketches.FREQUENT_FEED)
    return CategoricalCounts(
        rows=counted.rows,
        missing=counted.missing,
        counts=tracked,
        other=int(counted.counts.sum() - tracked.sum()),
        distinct=sketches.distinct(names),
        frequent=sketches.frequent([names[i] for i in heavy], counted.counts[heavy].tolist()),
    )


# --- a table at once: what each engine calls per column group or partition --------------------------


@dataclass(frozen=True)
class Segments:
    """Which segment each row belongs to: codes into ``values`` (-1: a segment not tracked)."""

    key: str
    values: tuple[str, ...]

    def codes(self, column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
        text = pc.fill_null(_as_text_column(column), columnar.string_array([NULL_SEGMENT])[0])
        where = pc.index_in(text, value_set=columnar.string_array(self.values))
        chunks = where.chunks if isinstance(where, pa.ChunkedArray) else [where]
        parts = [columnar.indices(chunk, null=-1).astype(np.int64) for chunk in chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


NULL_SEGMENT = "(null)"


def _as_text_column(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type):
        return column
    return pc.cast(column, pa.string())


def segment_values(column: pa.Array | pa.ChunkedArray, limit: int) -> tuple[list[str], list[int], int]:
    """The ``limit`` largest segments of a column (nulls as ``(null)``), their rows, and the rest."""
    counted = value_counts(column)
    names = counted.values.to_pylist()
    sizes = counted.counts.tolist()
    if counted.missing:
        names.append(NULL_SEGMENT)
        sizes.append(counted.missing)
    order = sorted(range(len(names)), key=lambda i: (-sizes[i], names[i]))
    kept = order[:limit]
    rest = sum(sizes[i] for i in order[limit:])
    return [names[i] for i in kept], [sizes[i] for i in kept], rest


def count_column(
    name: str, kind: str, column: pa.Array | pa.ChunkedArray, binning: Binning, *, quantiles: bool = False
) -> ColumnCounts:
    """Counts of one column of a window against a binning fixed beforehand."""
    if kind == NUMERIC:
        assert isinstance(binning, NumericBinning)
        counts, sketch = count_numeric(column, binning, quantiles=quantiles)
        return ColumnCounts(name, kind, binning, counts, sketch)
    assert isinstance(binning, CategoricalBinning)
    return ColumnCounts(name, kind, binning, categorical_counts(value_counts(column), binning))


def profile_column(
    name: str, kind: str, column: pa.Array | pa.ChunkedArray, *, top_k: int = TOP_K, quantiles: bool = False
) -> ColumnCounts:
    """A reference column: its binning (exact quantiles / top-k) and its counts in one pass."""
    if kind == NUMERIC:
        values, missing = sorted_values(column)
        binning = exact_binning(values)
        sketch = sketches.kll(values) if quantiles else b""
        counts = numeric_counts(values, binning, len(column), missing)
        return ColumnCounts(name, kind, binning, counts, sketch)
    counted = value_counts(column)
    binning_c = categorical_binning(counted, top_k)
    return ColumnCounts(name, kind, binning_c, categorical_counts(counted, binning_c))


def split_by_segment(
    table: pa.Table, codes: npt.NDArray[np.int64], segments: int
) -> list[tuple[int, pa.Table]]:
    """The rows of ``table`` per tracked segment (rows of untracked segments are dropped)."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(segments), side="left")
    ends = np.searchsorted(sorted_codes, np.arange(segments), side="right")
    taken = table.take(columnar.int64_array(order))
    return [(s, taken.slice(int(starts[s]), int(ends[s] - starts[s]))) for s in range(segments)]


def count_table(
    table: pa.Table,
    binnings: Mapping[str, Binning],
    kinds: Mapping[str, str],
    *,
    segments: Segments | None = None,
    quantiles: bool = False,
) -> tuple[dict[str, ColumnCounts], dict[str, dict[str, ColumnCounts]], dict[str, int]]:
    """Count every column of ``table`` against ``binnings``, overall and per segment.

    This is what a Spark partition runs (and the local engine per column group), so the
    results of any split of the rows merge to the results of the whole.

    Returns:
        counts per column; counts per tracked segment value and column; rows per tracked
        segment value (rows of untracked segments are in neither).
    """
    overall = {
        name: count_column(name, kinds[name], table.column(name), binnings[name], quantiles=quantiles)
        for name in binnings
    }
    if segments is None:
        return overall, {}, {}
    return overall, *count_segments(table, binnings, kinds, segments)


def count_segments(
    table: pa.Table, binnings: Mapping[str, Binning], kinds: Mapping[str, str], segments: Segments
) -> tuple[dict[str, dict[str, ColumnCounts]], dict[str, int]]:
    """Count every column of ``table`` against ``binnings`` within each tracked segment.

    Returns:
        counts per tracked segment value and column; rows per tracked segment value.
    """
    per_segment: dict[str, dict[str, ColumnCounts]] = {}
    rows: dict[str, int] = {}
    codes = segments.codes(table.column(segments.key))
    for index, part in split_by_segment(table.select(list(binnings)), codes, len(segments.values)):
        value = segments.values[index]
        rows[value] = part.num_rows
        per_segment[value] = {
            name: count_column(name, kinds[name], part.column(name), binnings[name]) for name in binnings
        }
    return per_segment, rows


def sketch_column(kind: str, column: pa.Array | pa.ChunkedArray) -> tuple[bytes, int, int]:
    """Sketch mode, first pass: a KLL (numeric) or frequent-items (categorical) sketch of a column."""
    if kind == NUMERIC:
        values, missing = sorted_values(column)
        return sketches.kll(values), len(column), missing
    counted = value_counts(column)
    return (
        sketches.frequent(counted.values.to_pylist(), counted.counts.tolist()),
        counted.rows,
        counted.missing,
    )


def binning_from_sketch(kind: str, sketch: bytes, top_k: int = TOP_K) -> Binning:
    if kind == NUMERIC:
        return sketch_binning(sketch)
    return CategoricalBinning(tuple(value for value, _ in sketches.frequent_top(sketch, top_k)))


def merge_all(parts: Sequence[Mapping[str, ColumnCounts]]) -> dict[str, ColumnCounts]:
    merged: dict[str, ColumnCounts] = {}
    for part in parts:
        for name, counts in part.items():
            merged[name] = merged[name].merge(counts) if name in merged else counts
    return merged
