"""Arrow arrays as numpy arrays, and small Arrow arrays from numpy and Python, without pandas.

pyarrow converts through its pandas layer: ``Array.to_numpy``, ``pa.array`` and
``pa.scalar`` import pandas when it is installed, which costs 0.2 s of CPU (holding the
interpreter lock) in a process whose whole comparison of a million rows takes a few
tenths of a second. The counting code needs only fixed-width values, validity bitmaps
and a few short string arrays, so it reads and builds Arrow buffers directly here.
Types this module does not handle go through ``pyarrow.compute.cast`` first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

#: Arrow types whose data buffer is a plain numpy array of this dtype.
_FIXED: dict[pa.DataType, type[np.generic]] = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float16(): np.float16,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def values_view(array: pa.Array) -> npt.NDArray[np.generic]:
    """A read-only view of a fixed-width array's data buffer (whatever its null slots hold)."""
    dtype = np.dtype(_FIXED[array.type])
    data = array.buffers()[1]
    if data is None or not len(array):
        return np.empty(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def valid_mask(array: pa.Array) -> npt.NDArray[np.bool_] | None:
    """True where ``array`` holds a value; None when it has no nulls."""
    if not array.null_count:
        return None
    bitmap = array.buffers()[0]
    if bitmap is None:  # a null-typed array: nothing is valid
        return np.zeros(len(array), dtype=bool)
    bits = np.unpackbits(
        np.frombuffer(bitmap, dtype=np.uint8), count=array.offset + len(array), bitorder="little"
    )
    return bits[array.offset :].view(bool)


def fill_floats(chunks: Sequence[pa.Array], out: npt.NDArray[np.float64]) -> None:
    """Write the chunks' values, one after another, into ``out`` as float64 (nulls as NaN).

    Integers and floats are converted during the copy; other numeric types (decimals,
    dictionaries) are cast by Arrow first.
    """
    start = 0
    for chunk in chunks:
        if chunk.type not in _FIXED:
            if pa.types.is_dictionary(chunk.type):
                chunk = chunk.cast(chunk.type.value_type)
            if chunk.type not in _FIXED:
                chunk = pc.cast(chunk, pa.float64(), safe=False)
        end = start + len(chunk)
        target = out[start:end]
        target[:] = values_view(chunk)
        valid = valid_mask(chunk)
        if valid is not None:
            target[~valid] = np.nan
        start = end


def indices(array: pa.Array, null: int) -> npt.NDArray[np.integer]:
    """An integer array's values (dictionary indices), with ``null`` where a value is missing.

    The result is an integer type ``numpy.bincount`` accepts (not uint64).
    """
    values = values_view(array)
    valid = valid_mask(array)
    if valid is None:
        return values.astype(np.int64) if values.dtype == np.uint64 else values  # type: ignore[return-value]
    filled = values.astype(np.int64)
    filled[~valid] = null
    return filled


def int64_array(values: npt.ArrayLike) -> pa.Array:
    """An Arrow int64 array of ``values`` (for ``take``)."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def string_array(values: Sequence[str]) -> pa.Array:
    """An Arrow string array of ``values`` (category names, segment values)."""
    encoded = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), data])


def numbers(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """An integer Arrow array without nulls (counts, positions) as int64."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parts = [values_view(chunk).astype(np.int64) for chunk in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
