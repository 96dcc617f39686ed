"""The counting definition: exact counts, merges that add up, binnings from data and sketches."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from recops.drift import counting, sketches
from recops.drift.counting import (
    SORT_ROW,
    Segments,
    count_column,
    count_table,
    exact_binning,
    merge_all,
    profile_column,
    sketch_binning,
    sorted_values,
    value_counts,
)
from recops.drift.counts import CATEGORICAL, NUMERIC, NumericBinning, NumericCounts
from recops.drift.stats import psi


def test_exact_binning_uses_inverted_cdf_percentiles() -> None:
    values = np.sort(np.random.default_rng(0).lognormal(size=12_345))
    binning = exact_binning(values)
    expected = np.quantile(values, np.arange(1, 100) / 100, method="inverted_cdf")
    assert np.array_equal(binning.edges, np.unique(expected))
    deciles = np.quantile(values, np.arange(1, 10) / 10, method="inverted_cdf")
    assert np.array_equal(binning.coarse, np.unique(deciles))
    assert set(binning.coarse) <= set(binning.edges)
    assert binning.shift == np.quantile(values, 0.5, method="inverted_cdf")


def test_ties_collapse_edges_of_zero_inflated_counts() -> None:
    values = np.sort(np.r_[np.zeros(600), np.random.default_rng(1).poisson(3, 400) + 1.0])
    binning = exact_binning(values)
    assert binning.edges[0] == 0.0 and len(binning.edges) == len(np.unique(binning.edges))
    counts = count_column("x", NUMERIC, pa.array(values), binning).counts
    assert isinstance(counts, NumericCounts)
    assert counts.counts[0] == 0 and counts.counts[1] == 600  # all zeros in [0, 1)


def test_numeric_counts_by_hand() -> None:
    column = pa.array([3.0, None, 1.0, float("nan"), 2.0, 5.0, float("inf"), 2.0])
    binning = exact_binning(np.array([1.0, 2.0, 3.0, 4.0]))
    counted = count_column("x", NUMERIC, column, binning).counts
    assert isinstance(counted, NumericCounts)
    assert counted.rows == 8 and counted.missing == 3  # null, NaN and inf count as missing
    edges = binning.edges.tolist()
    assert edges == [1.0, 2.0, 3.0, 4.0]
    # bins (-inf,1) [1,2) [2,3) [3,4) [4,inf) hold -, 1, 2 2, 3, 5
    assert counted.counts.tolist() == [0, 1, 2, 1, 1]
    # tail sums: (2-1), (3-2)*2, (4-3), and 5-4 above the last edge
    assert counted.tails.tolist() == pytest.approx([0.0, 1.0, 2.0, 1.0, 1.0])
    assert counted.minimum == 1.0 and counted.maximum == 5.0
    values = np.array([3.0, 1.0, 2.0, 5.0, 2.0])
    assert counted.mean(binning.shift) == pytest.approx(values.mean())
    assert counted.std() == pytest.approx(values.std())


def test_integer_and_decimal_columns_count_as_numbers() -> None:
    import decimal

    ints = pa.array([1, 2, None, 4], pa.int32())
    decimals = pa.array([decimal.Decimal("1.5"), decimal.Decimal("2.5")], pa.decimal128(5, 2))
    assert sorted_values(ints)[0].tolist() == [1.0, 2.0, 4.0] and sorted_values(ints)[1] == 1
    assert sorted_values(decimals)[0].tolist() == [1.5, 2.5]


def test_counts_of_any_split_merge_to_the_counts_of_the_whole() -> None:
    generator = np.random.default_rng(2)
    table = pa.table(
        {
            "x": generator.standard_t(3, 50_000),
            "c": pa.array([f"v{v}" for v in generator.zipf(1.5, 50_000) % 300]),
        }
    )
    kinds = {"x": NUMERIC, "c": CATEGORICAL}
    binnings = {
        "x": profile_column("x", NUMERIC, table.column("x")).binning,
        "c": profile_column("c", CATEGORICAL, table.column("c")).binning,
    }
    whole, _, _ = count_table(table, binnings, kinds)
    parts = [count_table(table.slice(start, 7_000), binnings, kinds)[0] for start in range(0, 50_000, 7_000)]
    merged = merge_all(parts)
    x_whole, x_merged = whole["x"].counts, merged["x"].counts
    assert isinstance(x_whole, NumericCounts) and isinstance(x_merged, NumericCounts)
    assert np.array_equal(x_whole.counts, x_merged.counts)
    assert np.allclose(x_whole.tails, x_merged.tails, rtol=1e-9, atol=1e-9)
    assert x_whole.sum_d == pytest.approx(x_merged.sum_d, rel=1e-9)
    assert x_whole.minimum == x_merged.minimum and x_whole.maximum == x_merged.maximum
    c_whole, c_merged = whole["c"].counts, merged["c"].counts
    assert np.array_equal(c_whole.counts, c_merged.counts) and c_whole.other == c_merged.other  # type: ignore[union-attr]
    assert sketches.distinct_estimate(c_whole.distinct) == sketches.distinct_estimate(c_merged.distinct)  # type: ignore[union-attr]


def test_value_counts_agree_for_dictionary_and_plain_strings() -> None:
    plain = pa.chunked_array([["a", "b", None, "a"], ["b", "c", "a"]])
    encoded = pa.chunked_array([chunk.dictionary_encode() for chunk in plain.chunks])
    for column in (plain, encoded):
        counted = value_counts(column)
        found = dict(zip(counted.values.to_pylist(), counted.counts.tolist(), strict=True))
        assert found == {"a": 3, "b": 2, "c": 1}
        assert counted.missing == 1 and counted.rows == 7
        assert counted.top(2) == ("a", "b")


def test_top_k_breaks_ties_by_value() -> None:
    counted = value_counts(pa.array(["b", "a", "c", "c", "d", "d"]))
    assert counted.top(3) == ("c", "d", "a")


def test_booleans_and_forced_numbers_are_categories() -> None:
    binning = profile_column("b", CATEGORICAL, pa.array([True, False, True, None])).binning
    assert binning.categories == ("true", "false")  # type: ignore[union-attr]
    ids = profile_column("i", CATEGORICAL, pa.array([7, 7, 8])).binning
    assert ids.categories == ("7", "8")  # type: ignore[union-attr]


def test_segments_split_rows_and_count_each_part() -> None:
    table = pa.table({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "k": ["a", "b", "a", None, "z"]})
    binnings = {"x": exact_binning(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))}
    segments = Segments("k", ("a", "b", "(null)"))
    overall, per_segment, rows = count_table(table, binnings, {"x": NUMERIC}, segments=segments)
    assert rows == {"a": 2, "b": 1, "(null)": 1}  # "z" is not tracked
    assert per_segment["a"]["x"].counts.values == 2 and overall["x"].counts.values == 5


def test_sketch_binning_is_close_to_exact_and_psi_barely_moves() -> None:
    generator = np.random.default_rng(3)
    ref = generator.lognormal(size=100_000)
    cur = generator.lognormal(0.2, 1.1, size=100_000)
    values = np.sort(ref)
    exact = exact_binning(values)
    sketched = sketch_binning(sketches.kll(values))
    levels = np.arange(1, 100) / 100
    ranks = np.searchsorted(values, sketched.edges, side="left") / len(values)
    assert np.max(np.abs(ranks - levels[: len(ranks)])) <= sketches.kll_rank_error()
    values_psi = []
    for binning in (exact, sketched):
        ref_counts = count_column("x", NUMERIC, pa.array(ref), binning)
        cur_counts = count_column("x", NUMERIC, pa.array(cur), binning)
        from recops.drift.stats.base import ColumnPair

        p, q, _ = ColumnPair("x", NUMERIC, binning, ref_counts.counts, cur_counts.counts).histogram()
        values_psi.append(psi.psi(p, q))
    assert values_psi[1] == pytest.approx(values_psi[0], rel=0.05)


@pytest.mark.parametrize("way", ["kernel", "sorted rows with a sketch", "sorted rows"])
def test_counts_of_an_unsorted_column_equal_an_independent_count(
    way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several sort rows, a partial last row, chunk boundaries inside rows, nulls, NaN and ±inf.

    The compiled kernel counts when no sketch is asked for; it must be built in a
    development install (the test fails rather than silently testing only the fallback).
    """
    if way == "kernel":
        assert counting.kernel is not None, "recops.drift._binning was not built"
    elif way == "sorted rows":
        monkeypatch.setattr(counting, "kernel", None)
    quantiles = way == "sorted rows with a sketch"
    generator = np.random.default_rng(4)
    n = 3 * SORT_ROW + 1_234
    values = generator.standard_t(3, n) * 5.0 + 1e6  # an offset, so the shift matters
    values[generator.random(n) < 0.03] = np.nan
    values[generator.random(n) < 0.01] = np.inf
    values[generator.random(n) < 0.01] = -np.inf
    values[: SORT_ROW // 2] = np.round(values[: SORT_ROW // 2])  # ties on the edges
    nulls = generator.random(n) < 0.02
    cuts = [0, 1_000, SORT_ROW + 77, 2 * SORT_ROW + 5_000, n]
    column = pa.chunked_array([pa.array(values[a:b], mask=nulls[a:b]) for a, b in itertools.pairwise(cuts)])
    binning = exact_binning(np.sort(np.round(generator.standard_t(3, 5_000) * 5.0) + 1e6))
    counted = count_column("x", NUMERIC, column, binning, quantiles=quantiles)
    got = counted.counts
    assert isinstance(got, NumericCounts)

    finite = values[np.isfinite(values) & ~nulls]
    edges, shift = binning.edges, binning.shift
    index = np.searchsorted(edges, finite, side="right")  # bin j is [edges[j-1], edges[j])
    expected = np.bincount(index, minlength=len(edges) + 1)
    above = [edges[j] - finite[index == j] for j in range(len(edges))]  # upper edge minus each value
    tails = [float(np.sum(gaps)) for gaps in above] + [float(np.sum(finite[index == len(edges)] - edges[-1]))]
    assert got.rows == n and got.missing == n - len(finite)
    assert got.counts.tolist() == expected.tolist()
    assert got.tails == pytest.approx(tails, rel=1e-9, abs=1e-6)
    assert got.sum_d == pytest.approx(float(np.sum(finite - shift)), rel=1e-9)
    assert got.sum_d2 == pytest.approx(float(np.sum((finite - shift) ** 2)), rel=1e-9)
    assert got.minimum == finite.min() and got.maximum == finite.max()
    assert got.mean(shift) == pytest.approx(finite.mean(), rel=1e-12)
    assert got.std() == pytest.approx(finite.std(), rel=1e-9)
    if quantiles:
        assert sketches.kll_count(counted.quantiles) == len(finite)


def test_counting_all_missing_and_empty_numeric_columns() -> None:
    binning = exact_binning(np.array([1.0, 2.0, 3.0]))
    empty = (pa.array([None, None], pa.float64()), pa.array([np.nan, np.inf]), pa.array([], pa.float64()))
    for column in empty:
        got = count_column("x", NUMERIC, column, binning).counts
        assert isinstance(got, NumericCounts)
        assert got.values == 0 and got.missing == len(column) and np.isnan(got.minimum)
        assert not got.tails.any() and got.sum_d == 0.0 and got.sum_d2 == 0.0


#: Binnings that exercise the kernel's table: its empty and one-edge cases, smooth data,
#: nearly every edge in the first cell (a search of many steps), integer edges (ties), and
#: edges too close for the table's arithmetic.
EDGE_SETS = {
    "no edges": np.empty(0),
    "one edge": np.array([0.5]),
    "percentiles of a normal": np.unique(
        np.quantile(np.random.default_rng(3).normal(size=5_000), np.arange(1, 100) / 100)
    ),
    "clustered": np.r_[np.arange(200) * 1e-9, 1e6],
    "integers": np.arange(0.0, 12.0),
    # edges a few denormals apart: the table's scale would overflow, so it has one cell
    "denormal": np.array([0.0, 5e-324, 1e-323]),
}


@pytest.mark.parametrize("edges_name", list(EDGE_SETS))
def test_kernel_counts_equal_the_sorted_rows_counts(edges_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert counting.kernel is not None, "recops.drift._binning was not built"
    generator = np.random.default_rng(11)
    edges = EDGE_SETS[edges_name]
    n = 50_000
    values = np.concatenate(
        [
            generator.standard_cauchy(n // 2),
            np.round(generator.normal(size=n // 4) * 3),  # ties on integer edges
            generator.choice(np.r_[edges, 0.0, 1e-9, 2e-9], n // 4),  # values exactly on edges
        ]
    )
    values[generator.random(n) < 0.01] = np.nan
    values[generator.random(n) < 0.005] = np.inf
    as_ints = pa.array(np.nan_to_num(values, posinf=0.0).astype(np.int64))
    binning = NumericBinning(edges, edges[:1], float(np.median(values[np.isfinite(values)])), "exact")
    for column in (pa.chunked_array([pa.array(values[:777]), pa.array(values[777:])]), as_ints):
        by_kernel = counting.count_numeric(column, binning)[0]
        monkeypatch.setattr(counting, "kernel", None)
        by_sorting = counting.count_numeric(column, binning)[0]
        monkeypatch.undo()
        assert by_kernel.counts.tolist() == by_sorting.counts.tolist()
        assert (by_kernel.rows, by_kernel.missing) == (by_sorting.rows, by_sorting.missing)
        assert by_kernel.tails == pytest.approx(by_sorting.tails, rel=1e-9, abs=1e-6)
        assert by_kernel.sum_d == pytest.approx(by_sorting.sum_d, rel=1e-9)
        assert by_kernel.sum_d2 == pytest.approx(by_sorting.sum_d2, rel=1e-9)
        assert (by_kernel.minimum, by_kernel.maximum) == (by_sorting.minimum, by_sorting.maximum)


def test_kernel_refuses_edges_out_of_order_and_mismatched_outputs() -> None:
    assert counting.kernel is not None
    values, counts, sums = np.arange(5.0), np.zeros(3, np.int64), np.zeros(3)
    with pytest.raises(ValueError, match="strictly increasing"):
        counting.kernel.count(values, np.array([2.0, 1.0]), 0.0, counts, sums)
    with pytest.raises(ValueError, match="strictly increasing"):
        counting.kernel.count(values, np.array([1.0, np.inf]), 0.0, counts, sums)
    with pytest.raises(ValueError, match="one more element"):
        counting.kernel.count(values, np.array([1.0]), 0.0, counts, sums)
    with pytest.raises(TypeError, match="float64"):
        counting.kernel.count(np.arange(5), np.array([1.0, 2.0]), 0.0, counts, sums)
