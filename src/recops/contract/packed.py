"""The packed form of a record, as the serving SDK spools it, and its conversion to Arrow.

The SDK's caller side (``recops.sdk._arrow``) copies each record into one ``bytes``
object of JSON: an array of the kind's contract fields in their order (a mixed map as
one value), times as epoch microseconds (``caller_time``), then the time it was logged
in nanoseconds since the epoch, which stands in for a missing value of the kind's time
column. Its writer stores those bytes as they are, in Parquet files of one binary
column (``packed_schema``: the kind is in the file's metadata), so converting them costs
the serving host nothing (decision 0056). ``recops ingest`` converts them here.

``build_batch`` parses the JSON and builds each column from one long list of plain
values over all the records of a step (a map column's keys and values, each candidate
field), which Arrow converts in C, instead of converting dicts one by one. JSON has no
NaN: a non-finite float arrives as null, except in a time, which ``caller_time`` made
text that the conversion rejects. Records JSON could not hold (an object of the
caller's own class) are converted by the SDK itself and spooled in the stored form.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract.kinds import CANDIDATE_TYPE, KINDS, TIME, Field, FieldType, RecordKind
from recops.errors import InvalidInput

Record = tuple[Any, ...]
#: A record as queued: packed JSON, or (when JSON cannot hold it) a copy of its values.
Queued = bytes | Record
Column = tuple[Any, ...]

#: The Parquet metadata key of a packed file; its value is the record kind's name.
PACKED_KEY = b"recops.packed"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_STRING_MAP = pa.map_(pa.string(), pa.string())
_CANDIDATE_FIELDS = tuple(CANDIDATE_TYPE)
assert tuple(f.name for f in _CANDIDATE_FIELDS) == ("item_id", "source", "score", "position", "propensity")


class ConversionError(ValueError):
    """A packed record's field that cannot be converted; the cause is Arrow's or ours."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.reason = message


@cache
def packed_schema(kind: RecordKind) -> pa.Schema:
    """The schema of a packed spool file of ``kind``: one binary column, ``record``."""
    return pa.schema(
        [pa.field("record", pa.large_binary(), nullable=False)], metadata={PACKED_KEY: kind.name}
    )


def packed_kind(schema: pa.Schema) -> RecordKind | None:
    """The record kind of a packed spool file's schema; None for any other schema.

    Raises:
        InvalidInput: for packed records of a kind this version does not know.
    """
    name = (schema.metadata or {}).get(PACKED_KEY)
    if name is None or schema.names != ["record"]:
        return None
    kind = KINDS.get(name.decode("utf-8", "replace"))
    if kind is None:
        raise InvalidInput(f"packed records of unknown kind {name.decode('utf-8', 'replace')!r}")
    return kind


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
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a time (RFC 3339 or epoch milliseconds): {value!r}") from None
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
        TypeError: for a value that is not a mapping.
    """
    present = [m for m in column if m is not None]
    for m in present:
        if not isinstance(m, Mapping):
            raise TypeError(f"expected a map (a JSON object of names to values), got {m!r:.60}")
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
            if "item_id" not in row:
                raise ValueError("candidates as columns need an item_id column")
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
    children = [_candidate_field(values, f) for values, f in zip(fields, _CANDIDATE_FIELDS, strict=True)]
    return pa.ListArray.from_arrays(
        _offsets(lengths),
        pa.StructArray.from_arrays(children, fields=list(_CANDIDATE_FIELDS)),
        type=list_type,
        mask=_nulls(column, sum(c is not None for c in column)),
    )


def _candidate_field(values: list[Any], f: pa.Field) -> pa.Array:
    try:
        return pa.array(values, type=f.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ConversionError(f"candidates.{f.name}", _arrow_reason(exc)) from exc


_ARROW_CONVERT = re.compile(r"Could not convert (.*) with type (\w+): tried to convert to (\w+)", re.DOTALL)


def _arrow_reason(exc: Exception) -> str:
    """Arrow's message for a value it cannot convert, without its internal wording."""
    found = _ARROW_CONVERT.match(str(exc))
    return f"{found[1]} ({found[2]}) is not a {found[3]}" if found else str(exc)


def build_batch(
    kind: RecordKind,
    queued: Sequence[Queued],
    between: Callable[[], None] | None = None,
    *,
    required: bool = True,
) -> pa.RecordBatch:
    """Convert queued records of ``kind`` into one batch with exactly ``kind.schema``.

    Args:
        kind: the record kind.
        queued: queued records (see the module docstring); at least one.
        between: called between two columns (the logger pauses there when it has held
            the interpreter long enough).
        required: refuse a null in a required column. Ingest passes False and lets
            its rules name the record and the field instead.

    Returns:
        A record batch whose schema equals ``kind.schema`` (with ``required=False``,
        every field nullable).

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
        try:
            arrays.extend(_field_arrays(kind, f, columns[index], logged_ns, required))
        except ConversionError:
            raise
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ConversionError(f.name, _arrow_reason(exc)) from exc
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConversionError(f.name, str(exc)) from exc
        except Exception as exc:
            raise ConversionError(f.name, f"{type(exc).__name__}: {exc}") from exc
    schema = stored_schema(kind) if required else nullable_schema(kind)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def convert_chunks(
    kind: RecordKind,
    records: Sequence[Queued],
    chunk_size: int,
    *,
    required: bool = True,
    between: Callable[[], None] | None = None,
) -> Iterator[tuple[int, pa.RecordBatch | Exception]]:
    """Convert records ``chunk_size`` at a time; yield (0-based row of the first, batch).

    A chunk that fails is converted again one record at a time, and a record that fails
    alone is yielded as its exception: every record is accounted for, in order.
    ``between`` is called before each chunk or retried record (and between columns).
    """
    for start in range(0, len(records), chunk_size):
        if between is not None:
            between()
        chunk = records[start : start + chunk_size]
        try:
            batch = build_batch(kind, chunk, between, required=required)
        except Exception:  # find the records that fail, one by one
            batch = None
        if batch is not None:
            yield start, batch
            continue
        for row, record in enumerate(chunk, start):
            if between is not None:
                between()
            try:
                one: pa.RecordBatch | Exception = build_batch(kind, [record], required=required)
            except Exception as exc:
                one = exc
            yield row, one


def read_spool_file(path: str | os.PathLike[str]) -> pa.Table:
    """A file the serving SDK wrote, as stored-form rows (``kind.schema``).

    Packed files are converted here (as ``recops ingest`` does); a file in the stored
    form is read as it is.

    Raises:
        InvalidInput: for a packed record that cannot be converted, naming its row (1-based)
            and field (``recops ingest`` puts such records in quarantine instead).
    """
    kind = packed_kind(pq.read_schema(path))
    if kind is None:
        return pq.read_table(path)
    records = pq.read_table(path).column("record").to_pylist()
    batches = []
    for row, converted in convert_chunks(kind, records, max(len(records), 1)):
        if isinstance(converted, Exception):
            raise InvalidInput(f"{path}: row {row + 1}: cannot convert ({converted})") from None
        batches.append(converted)
    return pa.Table.from_batches(batches, schema=stored_schema(kind))


@cache
def stored_schema(kind: RecordKind) -> pa.Schema:
    """Return ``kind.schema``, built once (the property builds a new one per call)."""
    return kind.schema


@cache
def nullable_schema(kind: RecordKind) -> pa.Schema:
    """``kind.schema`` with every field nullable (what ``build_batch`` gives with ``required=False``)."""
    return pa.schema([f.with_nullable(True) for f in kind.schema])


def _field_arrays(
    kind: RecordKind, f: Field, column: Column, logged_ns: Column, required: bool
) -> list[pa.Array]:
    """The stored column(s) of one contract field (a mixed map is two)."""
    if f.type is FieldType.MIXED_MAP:
        return list(_mixed(column, f.arrow_type))
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
    if required and f.required and array.null_count:
        raise ConversionError(f.name, "a required value is missing")
    return [array]
