"""Queued records to Arrow record batches in the stored schema of their kind.

A queued record is a tuple: the values of the kind's contract fields in their order
(``RecordKind.fields``, a mixed map as one value), then the time it was logged in
nanoseconds since the epoch (``time.time_ns()``), which stands in for a missing value of
the kind's time column. Columns are built one at a time from Python lists, which is
what keeps each step short enough not to stall the host's threads (see ``logger``).

Only the conversion is checked here (a type Arrow cannot take, a missing required
value): the contract's rules proper are applied at ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pyarrow as pa

from recops.contract import TIME, FieldType, RecordKind

Record = tuple[Any, ...]
Column = tuple[Any, ...]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_STRING_MAP = pa.map_(pa.string(), pa.string())


def to_epoch_us(value: object) -> int:
    """Return a contract time as integer microseconds since the epoch.

    Args:
        value: a ``datetime`` (naive is read as UTC), a number of epoch milliseconds or
            an ISO 8601 / RFC 3339 string.

    Returns:
        Microseconds since 1970-01-01T00:00:00Z.

    Raises:
        TypeError: for any other type (booleans included).
        ValueError: for a string that is not an ISO time, or a NaN.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _ONE_US
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 1000)
    raise TypeError(f"expected a datetime or epoch milliseconds, got {type(value).__name__}")


def _times(column: Column, logged_ns: Column, default_now: bool) -> list[int | None]:
    if default_now:
        return [n // 1000 if v is None else to_epoch_us(v) for v, n in zip(column, logged_ns, strict=True)]
    return [None if v is None else to_epoch_us(v) for v in column]


def _time_maps(column: Column) -> list[dict[str, int | None] | None]:
    return [
        None if m is None else {k: None if v is None else to_epoch_us(v) for k, v in m.items()}
        for m in column
    ]


def split_mixed(
    column: Column,
) -> tuple[list[dict[str, Any] | None], list[dict[str, str] | None]]:
    """Split maps of numbers and strings into a numbers column and a strings column.

    A record without the map has null in both; otherwise the numbers column has the
    non-string values (numbers, booleans, nulls) and the strings column the string
    values, each an empty map if there are none: the row ingest stores for the same
    record sent as JSON.
    """
    numbers: list[dict[str, Any] | None] = []
    strings: list[dict[str, str] | None] = []
    for mixed in column:
        if mixed is None:
            numbers.append(None)
            strings.append(None)
            continue
        nums: dict[str, Any] = {}
        strs: dict[str, str] = {}
        for key, value in mixed.items():
            if isinstance(value, str):
                strs[key] = value
            else:
                nums[key] = value
        numbers.append(nums)
        strings.append(strs)
    return numbers, strings


def _plain(column: Column) -> Sequence[Any]:
    return column


# Builders that only reshape Python values; Arrow does the typing.
_RESHAPE: dict[FieldType, Callable[[Column], Sequence[Any]]] = {
    FieldType.STRING: _plain,
    FieldType.NUMBER: _plain,
    FieldType.INTEGER: _plain,
    FieldType.NUMBER_MAP: _plain,
    FieldType.STRING_MAP: _plain,
    FieldType.CANDIDATES: _plain,
    FieldType.TIME_MAP: _time_maps,
}


def build_batch(
    kind: RecordKind, records: Sequence[Record], between: Callable[[], None] | None = None
) -> pa.RecordBatch:
    """Convert queued records of ``kind`` into one batch with exactly ``kind.schema``.

    Args:
        kind: the record kind.
        records: queued record tuples (see the module docstring); at least one.
        between: called between two columns (the logger pauses there when it has held
            the interpreter long enough).

    Returns:
        A record batch whose schema equals ``kind.schema``.

    Raises:
        Exception: whatever Arrow raises for a value it cannot convert, or
            ``ValueError`` for a null in a required column. The caller retries the
            records one by one to find the bad ones.
    """
    columns = list(zip(*records, strict=True))
    logged_ns = columns[len(kind.fields)]
    arrays: list[pa.Array] = []
    for index, f in enumerate(kind.fields):
        if between is not None and index:
            between()
        column = columns[index]
        if f.type is FieldType.MIXED_MAP:
            numbers, strings = split_mixed(column)
            arrays.append(pa.array(numbers, type=f.arrow_type))
            arrays.append(pa.array(strings, type=_STRING_MAP))
            continue
        if f.type is FieldType.TIME:
            values: Sequence[Any] = _times(column, logged_ns, f.name == kind.time_column)
            array = pa.array(values, type=TIME)
        else:
            array = pa.array(_RESHAPE[f.type](column), type=f.arrow_type)
        if f.required and array.null_count:
            raise ValueError(f"{kind.record} field {f.name!r} is required")
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=stored_schema(kind))


@cache
def stored_schema(kind: RecordKind) -> pa.Schema:
    """Return ``kind.schema``, built once (the property builds a new one per call)."""
    return kind.schema


def record_tuple(kind_fields: Sequence[str], record: Mapping[str, Any], logged_ns: int) -> Record:
    """Return the queued tuple for a record given as a mapping of field names."""
    return (*(record.get(name) for name in kind_fields), logged_ns)
