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
- Off the caller's thread, the converter parses the JSON and builds each column from
  one long list of plain values over all the records of a step (``build_batch``: a map
  column's keys and values, each candidate field), which Arrow converts in C, instead
  of converting dicts one by one.

JSON has no NaN: a non-finite float becomes null (a missing value), except in a time,
which ``caller_time`` turns into text that the converter rejects. A record JSON cannot
hold (an object of the caller's own class, say) has its maps and candidates copied on the
caller's thread and is queued by reference instead (``copy_raw``). Only the conversion
is checked (a value Arrow cannot take, a missing required value); the contract's rules
proper are applied at ingest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

import orjson
import pyarrow as pa

from recops.contract import CANDIDATE_TYPE, TIME, Field, FieldType, RecordKind

Record = tuple[Any, ...]
#: What the queue holds: a raw record as JSON, or (when JSON cannot hold it) a copy of it.
Queued = bytes | Record
Column = tuple[Any, ...]

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


Candidates = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


def _finite(value: Any) -> Any:
    """A number as JSON keeps it: None when it is NaN or infinite; anything else as it is."""
    try:
        return value if math.isfinite(value) else None
    except (TypeError, OverflowError):  # not a number, or an integer no double holds
        return value


def _copy_map(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _finite(value) for key, value in values.items()}


def _copy_candidates(candidates: Candidates) -> list[dict[str, Any]] | dict[str, list[Any]]:
    if isinstance(candidates, Mapping):
        return {name: [_finite(v) for v in column] for name, column in candidates.items()}
    return [_copy_map(c) for c in candidates]


_COPY: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.NUMBER_MAP: _copy_map,
    FieldType.STRING_MAP: _copy_map,
    FieldType.MIXED_MAP: _copy_map,
    FieldType.TIME_MAP: _copy_map,
    FieldType.CANDIDATES: _copy_candidates,
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


def copy_raw(kind: RecordKind, raw: Sequence[Any]) -> Record:
    """A raw record with its maps and candidates copied (a record JSON refused is queued so).

    Non-finite numbers become None, as JSON makes them.

    Raises:
        Exception: for a map that is not a mapping, candidates that are neither mappings
            nor a mapping of columns.
    """
    return (
        *(v if v is None else fn(v) for fn, v in zip(_copiers(kind), raw, strict=False)),
        raw[-1],
    )


@cache
def _copiers(kind: RecordKind) -> tuple[Callable[[Any], Any], ...]:
    """Per field of ``kind``, the function that copies its values as JSON would."""
    return tuple(_COPY.get(f.type, _finite) for f in kind.fields)


#: numpy scalars and arrays as numbers and lists; naive datetimes as UTC.
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC


def _as_list(value: Any) -> Any:
    """JSON for what orjson does not take itself: arrays with ``tolist()`` (numpy strings)."""
    tolist = getattr(value, "tolist", None)
    if tolist is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return tolist()


def pack(kind: RecordKind, raw: Record) -> Queued:
    """Return the queued form of a raw record (see the module docstring).

    Raises:
        Exception: when JSON cannot hold the record and copying it fails.
    """
    try:
        return orjson.dumps(raw, default=_as_list, option=_JSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: keep the record by reference, copied
        return copy_raw(kind, raw)


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


def _map_parts(column: Column) -> tuple[list[Mapping[str, Any]], list[int], list[Any], list[Any]]:
    """The maps of a column that are there, every row's length, and all keys and values in order.

    Raises:
        AttributeError: for a value that is not a mapping.
    """
    present = [m for m in column if m is not None]
    keys = list(chain.from_iterable(m.keys() for m in present))
    values = list(chain.from_iterable(m.values() for m in present))
    return present, [0 if m is None else len(m) for m in column], keys, values


def _map(column: Column, map_type: pa.DataType, convert: Callable[[Any], Any] | None = None) -> pa.Array:
    present, lengths, keys, values = _map_parts(column)
    if convert is not None:
        values = [convert(v) for v in values]
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
    """A time of a map of times (as the caller gave it) as epoch microseconds, or None."""
    return None if value is None else to_epoch_us(caller_time(value))


def _mixed(column: Column, numbers_type: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """Split maps of numbers and strings into a numbers map and a strings map.

    A record without the map has null in both; otherwise the numbers map has the
    non-string values (numbers, booleans, nulls) and the strings map the string values,
    each empty if there are none: the row ingest stores for the same record as JSON.
    """
    present, lengths, keys, values = _map_parts(column)
    is_text = [isinstance(v, str) for v in values]
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


def _candidate_columns(column: Column) -> tuple[list[int], list[list[Any]]]:
    """Every row's number of candidates, and one list per candidate field over all rows.

    Raises:
        Exception: for candidates that are neither mappings nor a mapping of columns, or
            columns of different lengths.
    """
    names = [f.name for f in _CANDIDATE_FIELDS]
    present = [c for c in column if c is not None]
    if all(type(c) is list for c in present):  # one mapping per candidate: all rows at once
        rows = [0 if c is None else len(c) for c in column]
        return rows, [[c.get(name) for row in present for c in row] for name in names]
    lengths: list[int] = []
    fields: list[list[Any]] = [[] for _ in names]
    for row in column:
        if row is None:
            lengths.append(0)
        elif isinstance(row, Mapping):
            n = len(row["item_id"])
            for out, name in zip(fields, names, strict=True):
                values = row.get(name)
                if values is not None and len(values) != n:
                    raise ValueError(f"candidate column {name!r} holds {len(values)} values, item_id {n}")
                out.extend([None] * n if values is None else values)
            lengths.append(n)
        else:
            for out, name in zip(fields, names, strict=True):
                out.extend([c.get(name) for c in row])
            lengths.append(len(row))
    return lengths, fields


def _candidates(column: Column, list_type: pa.DataType) -> pa.Array:
    lengths, fields = _candidate_columns(column)
    children = [pa.array(values, type=f.type) for values, f in zip(fields, _CANDIDATE_FIELDS, strict=True)]
    return pa.ListArray.from_arrays(
        _offsets(lengths),
        pa.StructArray.from_arrays(children, fields=list(_CANDIDATE_FIELDS)),
        type=list_type,
        mask=_nulls(column, sum(c is not None for c in column)),
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
    records = [orjson.loads(q) if type(q) is bytes else q for q in queued]
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
