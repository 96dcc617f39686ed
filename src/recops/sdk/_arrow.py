"""Records as the logger queues them, and their conversion to Arrow in the stored schema.

On the caller's thread a record is a tuple of the values the caller gave (``raw``): the
kind's contract fields in their order (a mixed map as one value), with its times made
epoch microseconds (``caller_time``), then the time it was logged in nanoseconds since
the epoch (``time.time_ns()``, which stands in for a missing value of the kind's time
column). ``orjson`` copies that tuple, maps, candidates and numpy values included, into
one ``bytes`` object of JSON (``pack``): about 6 µs for a request with 20 candidates,
against about 20 µs to flatten it into plain lists and pickle it, which is how it was
done before decision 0054. That copy is what makes everything else cheap:

- The garbage collector does not see ``bytes``, and the caller may reuse its dicts at
  once. Queued as the caller's objects, a record with 20 candidates would keep 26
  containers alive while it waits: enough to make the collector run every few dozen
  requests, and each run promotes whatever the host has in flight towards the oldest
  generation, whose full collections stop every thread of the host for tens of
  milliseconds (measured in ``bench/sdk_overhead.py``).
- Off the caller's thread, the converter parses the JSON and flattens the record
  (``flatten``: maps become ``(keys, values)``, candidates five lists) so that it builds
  each column from one long list of plain values (``build_batch``), which Arrow converts
  in C, instead of converting dicts one by one.

JSON has no NaN: a non-finite float becomes null (a missing value), except in a time,
which ``caller_time`` turns into text that the converter rejects. A record JSON cannot
hold (an object of the caller's own class, say) is flattened on the caller's thread and
queued by reference instead. Only the conversion is checked (a value Arrow cannot take,
a missing required value); the contract's rules proper are applied at ingest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

import orjson
import pyarrow as pa

from recops.contract import CANDIDATE_TYPE, TIME, Field, FieldType, RecordKind

Record = tuple[Any, ...]
#: What the queue holds: a raw record as JSON, or (when JSON cannot hold it) flattened.
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
        except (ValueError, OverflowError):  # NaN, infinity: text, which the converter rejects
            return repr(value)
    return value


def flat_map(values: Mapping[str, Any] | None) -> FlatMap:
    """``(keys, values)`` of a mapping, or None."""
    return None if values is None else (tuple(values), tuple(values.values()))


def flat_time_map(values: Mapping[str, Any] | None) -> FlatMap:
    """``(keys, epoch microseconds)`` of a mapping of times, or None."""
    return None if values is None else (tuple(values), tuple(map(caller_time, values.values())))


Candidates = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


def flat_candidates(candidates: Candidates | None) -> tuple[list[Any], ...] | None:
    """The candidates as one list per candidate field, or None.

    Candidates come as one mapping per candidate, or as one mapping of columns (a
    sequence per field, ``item_id`` required, the others all missing when absent).

    Raises:
        ValueError: for columns of different lengths.
    """
    if candidates is None:
        return None
    if isinstance(candidates, Mapping):
        rows = len(candidates["item_id"])
        columns = tuple(
            [None] * rows if (column := candidates.get(f.name)) is None else list(column)
            for f in _CANDIDATE_FIELDS
        )
        if any(len(column) != rows for column in columns):
            raise ValueError(f"candidate columns of different lengths: {[len(c) for c in columns]}")
        return columns
    return (
        [c.get("item_id") for c in candidates],
        [c.get("source") for c in candidates],
        [c.get("score") for c in candidates],
        [c.get("position") for c in candidates],
        [c.get("propensity") for c in candidates],
    )


_FLATTEN: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.NUMBER_MAP: flat_map,
    FieldType.STRING_MAP: flat_map,
    FieldType.MIXED_MAP: flat_map,
    FieldType.TIME_MAP: flat_time_map,
    FieldType.CANDIDATES: flat_candidates,
}


def _raw_value(field: Field, record: Mapping[str, Any]) -> Any:
    value = record.get(field.name)
    return caller_time(value) if field.type is FieldType.TIME else value


def raw(kind: RecordKind, record: Mapping[str, Any], logged_ns: int) -> Record:
    """The raw tuple of ``record``, a mapping of field names to values (see the module docstring)."""
    return (
        *(_raw_value(f, record) for f in kind.fields),
        logged_ns,
    )


def flatten(kind: RecordKind, raw: Sequence[Any]) -> Record:
    """Return the flat tuple of a raw record: maps as ``(keys, values)``, candidates as columns.

    Raises:
        Exception: for a map that is not a mapping, candidates that are neither mappings
            nor a mapping of columns.
    """
    return (*(v if fn is None else fn(v) for fn, v in zip(_flatteners(kind), raw, strict=False)), raw[-1])


@cache
def _flatteners(kind: RecordKind) -> tuple[Callable[[Any], Any] | None, ...]:
    """Per field of ``kind``, the function that flattens its values (None: kept as they are)."""
    return tuple(_FLATTEN.get(f.type) for f in kind.fields)


#: numpy scalars and arrays as numbers and lists; naive datetimes as UTC.
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC


def pack(kind: RecordKind, raw: Record) -> Queued:
    """Return the queued form of a raw record (see the module docstring).

    Raises:
        Exception: when JSON cannot hold the record and flattening it fails.
    """
    try:
        return orjson.dumps(raw, option=_JSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: keep the record by reference, flattened
        return flatten(kind, raw)


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
    records = [flatten(kind, orjson.loads(q)) if type(q) is bytes else q for q in queued]
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
