"""SDK spool files in the packed form (``recops.contract.packed``), converted to staged rows.

The serving SDK spools each record as the JSON it packed on the caller's thread and
leaves converting to ingest (decision 0056). A record that cannot be converted (a
value Arrow cannot take, a time that is not one) is staged as a row of nulls with a
``type`` violation naming the field, so the rules send it to quarantine with the record
as packed, instead of the writer dropping it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import RecordKind
from recops.contract.packed import ConversionError, build_batch, nullable_schema
from recops.ingest.staging import VIOLATION

#: Records converted at a time (a chunk that fails is converted again one by one).
CHUNK_RECORDS = 4096


def read_packed(path: Path, kind: RecordKind) -> pa.Table:
    """A packed file's records as stored columns (all nullable), ``_row`` (1-based) and ``_tv``."""
    records = pq.read_table(path, columns=["record"]).column("record").to_pylist()
    parts: list[pa.Table] = []
    for start in range(0, len(records), CHUNK_RECORDS):
        chunk = records[start : start + CHUNK_RECORDS]
        try:
            parts.append(_converted(build_batch(kind, chunk, required=False), start))
            continue
        except Exception:  # find the records that fail, one by one
            pass
        for row, record in enumerate(chunk, start):
            try:
                parts.append(_converted(build_batch(kind, [record], required=False), row))
            except Exception as exc:
                parts.append(_unconvertible(kind, row, exc))
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
