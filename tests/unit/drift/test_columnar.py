"""Arrow buffers read as numpy (and small arrays built) agree with pyarrow's own conversions."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

from recops.drift import columnar


def sliced(array: pa.Array) -> list[pa.Array]:
    """The array whole and at offsets that are not byte-aligned in the validity bitmap."""
    return [array, array.slice(3), array.slice(5, len(array) - 9)]


@pytest.mark.parametrize(
    "array",
    [
        pa.array([1.5, None, -2.0, float("nan"), 7.25, None, 0.0, 3.0, None, 1e300, -1e-300, 4.0, 5.0, 6.0]),
        pa.array(list(range(-7, 7)), pa.int8()),
        pa.array([1, None, 3, 4, None, 6, 7, 8, 9, 10, None, 12, 13, 14], pa.uint32()),
        pa.array([float(i) / 3 for i in range(14)], pa.float32()),
        pa.array([decimal.Decimal(i) / 4 for i in range(14)], pa.decimal128(6, 2)),
        pa.array([2.0, 1.0, 2.0, None] * 4).dictionary_encode(),
    ],
)
def test_fill_floats_matches_arrow_casting(array: pa.Array) -> None:
    for part in sliced(array):
        plain = part.dictionary_decode() if pa.types.is_dictionary(part.type) else part
        want = np.asarray(plain.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        got = np.full(len(part), -99.0)
        columnar.fill_floats([part], got)
        np.testing.assert_array_equal(got, want)  # NaN where null, like to_numpy


def test_fill_floats_writes_chunks_one_after_another() -> None:
    chunks = [pa.array([1, 2, None], pa.int64()), pa.array([4.5, None]), pa.array([], pa.float64())]
    out = np.empty(5)
    columnar.fill_floats(chunks, out)
    np.testing.assert_array_equal(out, [1.0, 2.0, np.nan, 4.5, np.nan])


def test_valid_mask_and_indices_at_any_offset() -> None:
    values = pa.array([0, 1, None, 3, None, None, 6, 7, 8, None, 10, 11, 12, 13], pa.int32())
    for part in sliced(values):
        mask = columnar.valid_mask(part)
        assert mask is not None and mask.tolist() == part.is_valid().to_pylist()
        filled = columnar.indices(part, null=-1)
        assert filled.tolist() == [-1 if v is None else v for v in part.to_pylist()]
    assert columnar.valid_mask(pa.array([1, 2, 3])) is None
    wide = columnar.indices(pa.array([2, 0, 2], pa.uint64()), null=-1)
    assert np.bincount(wide).tolist() == [1, 0, 2]


def test_small_arrays_built_from_buffers_equal_pyarrow_ones() -> None:
    names = ["a", "", "héllo", "日本", "x" * 40]
    assert columnar.string_array(names).equals(pa.array(names, pa.string()))
    assert columnar.string_array([]).equals(pa.array([], pa.string()))
    assert columnar.int64_array(np.array([3, 1, 2], dtype=np.int32)).equals(pa.array([3, 1, 2], pa.int64()))
    counts = pa.chunked_array([pa.array([1, 2], pa.int64()), pa.array([5], pa.int64())])
    assert columnar.numbers(counts).tolist() == [1, 2, 5]
