"""Records as the logger queues them, and their conversion to Arrow in the stored schema.

On the caller's thread a record becomes a tuple of flat values (``flatten``): the kind's
contract fields in their order (``RecordKind.fields``, a mixed map as one value), then
the time it was logged in nanoseconds since the epoch (``time.time_ns()``, which stands
in for a missing value of the kind's time column). Maps become ``(keys, values)``,
candidates five lists (``item_id``, ``source``, ``score``, ``position``,
``propensity``), times epoch microseconds: only strings, numbers, and tuples and lists of them
are left. That costs the caller a few microseconds and makes everything after it cheap:

- ``pickle`` copies such a tuple into one ``bytes`` object in a few microseconds
  (``pack``). The garbage collector does not see ``bytes``, and the caller may reuse its
  dicts at once. Queued as the caller's objects, a record with 20 candidates would keep
  26 containers alive while it waits: enough to make the collector run every few dozen
  requests, and each run promotes whatever the host has in flight towards the oldest
  generation, whose full collections stop every thread of the host for tens of
  milliseconds (measured in ``bench/sdk_overhead.py``).
- The flusher builds each column from one long list of plain values (``build_batch``),
  which Arrow converts in C, instead of converting dicts one by one: about three times
  less of its time holding the GIL.

Only the conversion is checked (a value Arrow cannot take, a missing required value); the
contract's rules proper are applied at ingest.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

import pyarrow as pa

from recops.contract import CANDIDATE_TYPE, TIME, FieldType, RecordKind

Record = tuple[Any, ...]
Queued = bytes | Record
Column = tuple[Any, ...]
FlatMap = tuple[Sequence[Any], Sequence[Any]] | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_STRING_MAP = pa.map_(pa.string(), pa.string())
_CANDIDATE_FIELDS = tuple(CANDIDATE_TYPE)
assert tuple(f.name for f in _CANDIDATE_FIELDS) == ("item_id", "source", "score", "position", "propensity")

# ------------------------------------------------------------- the caller's side


def caller_time(value: Any) -> Any:
    """Make a time epoch microseconds (an ``int``), cheaply; never raises.

    A ``datetime`` (naive is read as UTC) or a number of epoch milliseconds becomes an
    ``int``; ``None`` and strings (parsed later) are kept, and so is anything else, for
    the flusher to reject.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _ONE_US
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return round(value * 1000)
        except (ValueError, OverflowError):  # NaN, infinity: the flusher rejects them
            return value
    return value


def flat_map(values: Mapping[str, Any] | None) -> FlatMap:
    """``(keys, values)`` of a mapping, or None."""
    return None if values is None else (tuple(values), tuple(values.values()))


def flat_time_map(values: Mapping[str, Any] | None) -> FlatMap:
    """``(keys, epoch microseconds)`` of a mapping of times, or None."""
    return None if values is None else (tuple(values), tuple(map(caller_time, values.values())))


def flat_candidates(candidates: Sequence[Mapping[str, Any]] | None) -> tuple[list[Any], ...] | None:
    """The candidates as one list per candidate field, or None.

    A list comprehension per field: about 15% less of the caller's time than building a
    tuple per candidate and transposing them.
    """
    if candidates is None:
        return None
    return (
        [c.get("item_id") for c in candidates],
        [c.get("source") for c in candidates],
        [c.get("score") for c in candidates],
        [c.get("position") for c in candidates],
        [c.get("propensity") for c in candidates],
    )


_FLATTEN: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.TIME: caller_time,
    FieldType.NUMBER_MAP: flat_map,
    FieldType.STRING_MAP: flat_map,
    FieldType.MIXED_MAP: flat_map,
    FieldType.TIME_MAP: flat_time_map,
    FieldType.CANDIDATES: flat_candidates,
}


def flatten(kind: RecordKind, record: Mapping[str, Any], logged_ns: int) -> Record:
    """Return the flat tuple of ``record``, a mapping of field names to values.

    Raises:
        Exception: for a map that is not a mapping, candidates that are not mappings.
    """
    values: list[Any] = []
    for f in kind.fields:
        value = record.get(f.name)
        values.append(_FLATTEN[f.type](value) if f.type in _FLATTEN else value)
    values.append(logged_ns)
    return tuple(values)


def pack(record: Record) -> Queued:
    """Return the queued form of a flat record (see the module docstring); never raises."""
    try:
        return pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
    except Exception:  # an object pickle refuses: keep the record by reference
        return record


# ------------------------------------------------------------- the flusher's side


def to_epoch_us(value: object) -> int:
    """Return a time made by ``caller_time`` as epoch microseconds.

    Raises:
        TypeError: for a value that is not a time (``caller_time`` made every time an
            ``int`` but strings).
        ValueError: for a string that is not an ISO 8601 / RFC 3339 time.
    """
    if type(value) is int:
        return value
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return (parsed - _EPOCH) // _ONE_US
    raise TypeError(f"expected a datetime or epoch milliseconds, got {value!r}")


def _times(column: Column, logged_ns: Column, default_now: bool) -> pa.Array:
    if default_now:
        values = [n // 1000 if v is None else to_epoch_us(v) for v, n in zip(column, logged_ns, strict=True)]
    else:
        values = [None if v is None else to_epoch_us(v) for v in column]
    return pa.array(values, type=TIME)


def _offsets(lengths: Sequence[int]) -> pa.Array:
    offsets = [0]
    total = 0
    for n in lengths:
        total += n
        offsets.append(total)
    return pa.array(offsets, type=pa.int32())


def _text(value: object) -> str | None:
    """A scalar as the text JSON ingest stores for it in a map of strings."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise TypeError(f"expected a string, got {value!r}")


def _map(column: Column, map_type: pa.DataType, convert: Callable[[Any], Any] | None = None) -> pa.Array:
    present = [m for m in column if m is not None]
    values = list(chain.from_iterable(m[1] for m in present))
    if convert is not None:
        values = [convert(v) for v in values]
    keys = list(chain.from_iterable(m[0] for m in present))
    lengths = [0 if m is None else len(m[0]) for m in column]
    return _map_array(lengths, keys, values, map_type, _nulls(column, len(present)))


def _nulls(column: Column, present: int) -> pa.Array | None:
    return pa.array([v is None for v in column]) if present < len(column) else None


def _map_array(
    lengths: list[int], keys: list[Any], values: list[Any], map_type: pa.DataType, nulls: pa.Array | None
) -> pa.Array:
    key_array = pa.array(keys, type=map_type.key_type)
    if key_array.null_count:
        raise ValueError("a map key is null")
    try:
        items = pa.array(values, type=map_type.item_type)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        if map_type.item_type != pa.string():
            raise
        items = pa.array([_text(v) for v in values], type=pa.string())
    return pa.MapArray.from_arrays(_offsets(lengths), key_array, items, type=map_type, mask=nulls)


def _nullable_time(value: object) -> int | None:
    return None if value is None else to_epoch_us(value)


def _mixed(column: Column, numbers_type: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Split maps of numbers and strings into a numbers map and a strings map.

    A record without the map has null in both; otherwise the numbers map has the
    non-string values (numbers, booleans, nulls) and the strings map the string values,
    each empty if there are none: the row ingest stores for the same record as JSON.
    """
    present = [m for m in column if m is not None]
    keys = list(chain.from_iterable(m[0] for m in present))
    values = list(chain.from_iterable(m[1] for m in present))
    is_text = [isinstance(v, str) for v in values]
    lengths = [0 if m is None else len(m[0]) for m in column]
    text_lengths = []
    start = 0
    for n in lengths:
        text_lengths.append(sum(is_text[start : start + n]))
        start += n
    nulls = _nulls(column, len(present))
    numbers = _map_array(
        [n - t for n, t in zip(lengths, text_lengths, strict=True)],
        [k for k, t in zip(keys, is_text, strict=True) if not t],
        [v for v, t in zip(values, is_text, strict=True) if not t],
        numbers_type,
        nulls,
    )
    strings = _map_array(
        text_lengths,
        [k for k, t in zip(keys, is_text, strict=True) if t],
        [v for v, t in zip(values, is_text, strict=True) if t],
        _STRING_MAP,
        nulls,
    )
    return numbers, strings


def _candidates(column: Column, list_type: pa.DataType) -> pa.Array:
    present = [c for c in column if c is not None]
    children = [
        pa.array(list(chain.from_iterable(c[i] for c in present)), type=f.type)
        for i, f in enumerate(_CANDIDATE_FIELDS)
    ]
    return pa.ListArray.from_arrays(
        _offsets([0 if c is None else len(c[0]) for c in column]),
        pa.StructArray.from_arrays(children, fields=list(_CANDIDATE_FIELDS)),
        type=list_type,
        mask=_nulls(column, len(present)),
    )


def build_batch(
    kind: RecordKind, queued: Sequence[Queued], between: Callable[[], None] | None = None
) -> pa.RecordBatch:
    """Convert queued records of ``kind`` into one batch with exactly ``kind.schema``.

    Args:
        kind: the record kind.
        queued: queued records (see the module docstring); at least one.
        between: called between two columns (the logger pauses there when it has held
            the interpreter long enough).

    Returns:
        A record batch whose schema equals ``kind.schema``.

    Raises:
        Exception: whatever Arrow raises for a value it cannot convert, or
            ``ValueError`` for a null in a required column. The caller retries the
            records one by one to find the bad ones.
    """
    records = [pickle.loads(q) if type(q) is bytes else q for q in queued]
    columns = list(zip(*records, strict=True))
    del records
    logged_ns = columns[len(kind.fields)]
    arrays: list[pa.Array] = []
    for index, f in enumerate(kind.fields):
        if between is not None and index:
            between()
        column = columns[index]
        if f.type is FieldType.MIXED_MAP:
            arrays.extend(_mixed(column, f.arrow_type))
            continue
        if f.type is FieldType.TIME:
            array = _times(column, logged_ns, f.name == kind.time_column)
        elif f.type in (FieldType.NUMBER_MAP, FieldType.STRING_MAP):
            array = _map(column, f.arrow_type)
        elif f.type is FieldType.TIME_MAP:
            array = _map(column, f.arrow_type, _nullable_time)
        elif f.type is FieldType.CANDIDATES:
            array = _candidates(column, f.arrow_type)
        else:
            array = pa.array(column, type=f.arrow_type)
        if f.required and array.null_count:
            raise ValueError(f"{kind.record} field {f.name!r} is required")
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=stored_schema(kind))


@cache
def stored_schema(kind: RecordKind) -> pa.Schema:
    """Return ``kind.schema``, built once (the property builds a new one per call)."""
    return kind.schema
