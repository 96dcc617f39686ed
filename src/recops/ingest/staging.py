"""The staged form of a batch: the stored columns plus ``_id`` and ``_tv``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from recops.contract import FEATURE_ROWS, FieldType, RecordKind
from recops.ingest.normalize import SQL_TYPES
from recops.lake.sqltext import literal, quote

VIOLATION = pa.struct([("rule", pa.string()), ("field", pa.string()), ("detail", pa.string())])


def staged_schema(kind: RecordKind) -> pa.Schema:
    """Stored columns (all nullable: rules, not the schema, refuse missing values) + bookkeeping."""
    fields = [pa.field(f.name, f.type) for f in kind.schema]
    return pa.schema([*fields, pa.field("_id", pa.int64()), pa.field("_tv", VIOLATION)])


def raw_parquet_relation(path: Path) -> str:
    """A Parquet file as a relation with a 1-based ``_row``."""
    scan = f"read_parquet({literal(str(path))}, file_row_number = true)"
    return f"(SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) FROM {scan})"


def wide_feature_rows(rel: str, types: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A Parquet feature-row file with one column per feature → ``values`` / ``value_strings``.

    Numeric and boolean columns go to ``values``; string columns to ``value_strings`` (a
    null string is kept as a null in ``values``, as a JSON null is).
    """
    fixed = [f.name for f in FEATURE_ROWS.fields if f.name != "values"]
    features = [c for c in types if c not in fixed and c != "_row"]
    numeric: list[str] = []
    strings: list[str] = []
    for c in features:
        q = quote(c)
        if types[c] == "VARCHAR":
            strings.append(f"{{'key': {literal(c)}, 'value': {q}, 'keep': {q} IS NOT NULL}}")
            numeric.append(f"{{'key': {literal(c)}, 'value': NULL::DOUBLE, 'keep': {q} IS NULL}}")
        else:
            numeric.append(f"{{'key': {literal(c)}, 'value': TRY_CAST({q} AS DOUBLE), 'keep': true}}")

    def as_map(entries: list[str], value_type: str) -> str:
        if not entries:
            return f"CAST(MAP() AS MAP(VARCHAR, {value_type}))"
        listed = ", ".join(entries)
        return f"map_from_entries([{{'key': e.key, 'value': e.value}} for e in [{listed}] if e.keep])"

    select = "".join(f", {quote(c)}" for c in fixed if c in types)
    rel = (
        f'(SELECT _row{select}, {as_map(numeric, "DOUBLE")} AS "values", '
        f"{as_map(strings, 'VARCHAR')} AS value_strings FROM {rel})"
    )
    new_types = {c: types[c] for c in fixed if c in types}
    new_types["values"] = SQL_TYPES[FieldType.NUMBER_MAP]
    new_types["value_strings"] = SQL_TYPES[FieldType.STRING_MAP]
    return rel, new_types
