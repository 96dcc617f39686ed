"""Where things live in the lake folder.

``<data_dir>/<kind>/date=YYYY-MM-DD/part-<batch>-<n>.parquet``; the date is the UTC date
of the kind's partition time (``RecordKind.time_column``) and, for quarantine, the date
the record was refused.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from recops.contract import TIME

QUARANTINE = "quarantine"

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("kind", pa.string()),
        pa.field("source", pa.string()),  # file path, or sdk / http
        pa.field("row", pa.int64()),  # 1-based line (JSONL) or row (Parquet) in the source
        pa.field("rule", pa.string()),
        pa.field("field", pa.string()),
        pa.field("detail", pa.string()),
        # The refused record as JSON text; large_string, since a batch of refused nested
        # records can pass the 2 GiB a plain string column holds.
        pa.field("record", pa.large_string()),
        pa.field("_batch", pa.string()),
        pa.field("_ingested_at", TIME),
    ]
)


def new_batch_id(now: datetime | None = None) -> str:
    """Sortable, unique: ``20261125T190203-<8 hex>``."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)


def kind_dir(data_dir: Path, kind: str) -> Path:
    return data_dir / kind


def batch_file_glob(batch_id: str) -> str:
    return f"*/date=*/part-{batch_id}-*.parquet"


def date_of(relative_path: str) -> str:
    for part in Path(relative_path).parts:
        if part.startswith("date="):
            return part[len("date=") :]
    raise ValueError(f"no date partition in {relative_path}")


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Parquet column paths worth dictionary-encoding: strings that are labels, not ids.

    Dictionary encoding pays for surfaces, statuses, sources and map keys, and costs time
    (then falls back) for high-cardinality ids; so every string leaf except ``*_id``.
    """
    paths: list[str] = []

    def walk(prefix: str, name: str, dtype: pa.DataType) -> None:
        path = f"{prefix}{name}"
        if pa.types.is_map(dtype):
            walk(f"{path}.key_value.", "key", dtype.key_type)
            walk(f"{path}.key_value.", "value", dtype.item_type)
        elif pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
            walk(f"{path}.list.", "element", dtype.value_type)
        elif pa.types.is_struct(dtype):
            for child in dtype:
                walk(f"{path}.", child.name, child.type)
        elif (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)) and not name.endswith("_id"):
            paths.append(path)

    for field in schema:
        walk("", field.name, field.type)
    return paths


ROW_GROUP_ROWS = 122_880


#: Lookup keys that get a Parquet Bloom filter: finding one request (``recops trace``)
#: or one user's requests reads only the row groups that may hold it. Random ids defeat
#: min/max statistics; a filter at 1% false positives costs about 1-3% of file size.
BLOOM_COLUMNS = ("request_id", "user_id")
BLOOM_FPP = 0.01


def bloom_filters(table: pa.Table) -> dict[str, dict[str, float | int]]:
    """Bloom filter options for the lookup-key columns the table has."""
    ndv = max(1, min(table.num_rows, ROW_GROUP_ROWS))
    return {
        name: {"ndv": ndv, "fpp": BLOOM_FPP}
        for name in BLOOM_COLUMNS
        if name in table.schema.names and pa.types.is_string(table.schema.field(name).type)
    }


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write one lake file the way every lake file is written (zstd, label dictionaries,
    Bloom filters on lookup keys)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="zstd",
        row_group_size=ROW_GROUP_ROWS,
        use_dictionary=dictionary_columns(table.schema),
        bloom_filter_options=bloom_filters(table) or None,
    )
