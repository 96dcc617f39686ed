"""Arrow builders that go straight from numpy buffers to arrays (no Python objects)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recops.contract import TIME

_ALPHABET = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def format_ids(prefix: str, numbers: npt.NDArray[np.integer], width: int, base: int = 16) -> pa.Array:
    """Fixed-width ids ``prefix + digits`` (zero-padded, base 10 or 16), as a string array.

    Args:
        prefix: ASCII text before the digits.
        numbers: non-negative integers below ``base ** width``.
        width: number of digits.
        base: 10 or 16.
    """
    values = numbers.astype(np.uint64)
    n = len(values)
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    rows = np.empty((n, len(head) + width), dtype=np.uint8)
    rows[:, : len(head)] = head
    for i in range(width):
        rows[:, len(head) + width - 1 - i] = _ALPHABET[(values % np.uint64(base)).astype(np.intp)]
        values = values // np.uint64(base)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(rows.shape[1])
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(rows.tobytes()))


def vocab(values: Sequence[str]) -> pa.Array:
    """A string array to index into with :func:`pick`."""
    return pa.array(list(values), pa.string())


def pick(
    dictionary: pa.Array, codes: npt.NDArray[np.integer], null: npt.NDArray[np.bool_] | None = None
) -> pa.Array:
    """``dictionary[codes]``, null where ``null`` is true."""
    indices = pa.array(np.asarray(codes, dtype=np.int32), mask=null)
    return dictionary.take(indices)


def times(ms: npt.NDArray[np.integer], null: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """Epoch milliseconds to ``timestamp[us, tz=UTC]``."""
    return pa.array(ms.astype(np.int64) * 1000, type=pa.int64(), mask=null).view(TIME)


def floats(values: npt.NDArray[np.floating], null: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """float64 array, null where ``null`` is true."""
    return pa.array(np.asarray(values, dtype=np.float64), type=pa.float64(), mask=null)


def offsets_of(counts: npt.NDArray[np.integer]) -> pa.Array:
    """List/map offsets (int32) from per-row entry counts."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.array(offsets, type=pa.int32())


def map_array(counts: npt.NDArray[np.integer], keys: pa.Array, items: pa.Array) -> pa.Array:
    """A map array with ``counts[i]`` entries in row ``i``, taken in order from keys/items."""
    return pa.MapArray.from_arrays(offsets_of(counts), keys, items)


def fixed_map(
    n: int,
    names: Sequence[str],
    columns: Sequence[pa.Array],
) -> pa.Array:
    """A map with the same keys in every row: ``names[j] -> columns[j][i]``.

    Args:
        n: number of rows.
        names: the keys, in order.
        columns: one array of ``n`` values per key, all of one type.
    """
    width = len(names)
    keys = pick(vocab(names), np.tile(np.arange(width, dtype=np.int32), n))
    stacked = pa.concat_arrays(list(columns))
    # Interleave column-major values into row-major map entries.
    order = (np.arange(width, dtype=np.int64)[None, :] * n + np.arange(n, dtype=np.int64)[:, None]).ravel()
    items = stacked.take(pa.array(order))
    return map_array(np.full(n, width, dtype=np.int32), keys, items)
