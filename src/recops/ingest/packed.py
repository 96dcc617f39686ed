"""SDK spool files in the packed form (``recops.contract.packed``), converted to staged rows.

The serving SDK spools each record as the JSON it packed on the caller's thread and
leaves converting to ingest (decision 0056). A record that cannot be converted (a
value Arrow cannot take, a time that is not one) is staged as a row of nulls with a
``type`` violation naming the field, so the rules send it to quarantine (its text is a
JSON object with the contract's field names: ``record_text_relation``), instead of the
writer dropping it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import FieldType, RecordKind
from recops.contract.packed import ConversionError, convert_chunks, nullable_schema
from recops.ingest.staging import VIOLATION
from recops.lake.sqltext import literal

#: An RFC 3339 time from epoch microseconds, in DuckDB's ``strftime``.
_RFC3339 = "'%Y-%m-%dT%H:%M:%S.%fZ'"

#: Records converted at a time (a chunk that fails is converted again one by one).
CHUNK_RECORDS = 4096


def read_packed(path: Path, kind: RecordKind) -> pa.Table:
    """A packed file's records as stored columns (all nullable), ``_row`` (1-based) and ``_tv``."""
    records = pq.read_table(path, columns=["record"]).column("record").to_pylist()
    parts = [
        _unconvertible(kind, row, converted)
        if isinstance(converted, Exception)
        else _converted(converted, row)
        for row, converted in convert_chunks(kind, records, CHUNK_RECORDS, required=False)
    ]
    if not parts:
        empty = nullable_schema(kind).empty_table()
        return empty.append_column("_row", pa.array([], pa.int64())).append_column(
            "_tv", pa.nulls(0, VIOLATION)
        )
    return pa.concat_tables(parts)


def _converted(batch: pa.RecordBatch, first_row: int) -> pa.Table:
    n = batch.num_rows
    table = pa.Table.from_batches([batch])
    table = table.append_column("_row", pa.array(range(first_row + 1, first_row + n + 1), pa.int64()))
    return table.append_column("_tv", pa.nulls(n, VIOLATION))


def _unconvertible(kind: RecordKind, row: int, exc: Exception) -> pa.Table:
    field, reason = (
        (exc.field, exc.reason)
        if isinstance(exc, ConversionError)
        else (None, f"{type(exc).__name__}: {exc}")
    )
    columns = [pa.nulls(1, f.type) for f in kind.schema]
    violation = pa.array([{"rule": "type", "field": field, "detail": f"cannot convert: {reason}"}], VIOLATION)
    names = [*kind.schema.names, "_row", "_tv"]
    return pa.Table.from_arrays([*columns, pa.array([row + 1], pa.int64()), violation], names=names)


def record_text_relation(path: Path, kind: RecordKind) -> str:
    """The file as a relation of ``_row`` (1-based) and ``_line``, what quarantine shows.

    Each record becomes a JSON object with the contract's field names, its times RFC 3339
    (the packed form is positional, with times in epoch microseconds), close to what the
    caller passed. A record that is not a JSON array is shown as it is. Only the refused
    rows are ever computed (the relation is joined to them).
    """
    pairs = []
    for index, f in enumerate(kind.fields):
        value = f"j->{index}"
        if f.type is FieldType.TIME:
            value = (
                f"CASE WHEN json_type({value}) IN ('BIGINT', 'UBIGINT') THEN "
                f"to_json(strftime(make_timestamp(CAST({value} AS BIGINT)), {_RFC3339})) ELSE {value} END"
            )
        pairs.append(f"{literal(f.name)}, {value}")
    scan = f"read_parquet({literal(str(path))}, file_row_number = true)"
    text = "try(decode(record))"
    named = f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)"
    return (
        f"(SELECT _row, CASE WHEN json_type(j) = 'ARRAY' THEN {named} "
        f"ELSE coalesce(t, CAST(record AS VARCHAR)) END AS _line FROM (SELECT file_row_number + 1 AS _row, "
        f"record, {text} AS t, CASE WHEN json_valid({text}) THEN CAST({text} AS JSON) END AS j FROM {scan}))"
    )
