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
