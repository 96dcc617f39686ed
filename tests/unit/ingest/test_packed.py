"""SDK spool files in the packed form: recognized by their schema, converted at ingest."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recops.contract import OUTCOMES
from recops.contract.packed import PACKED_KEY, packed_kind, packed_schema, read_spool_file
from recops.errors import InvalidInput
from recops.ingest.packed import read_packed


def write_packed(path: Path, records: list[bytes], schema: pa.Schema | None = None) -> Path:
    schema = schema or packed_schema(OUTCOMES)
    pq.write_table(pa.Table.from_arrays([pa.array(records, pa.large_binary())], schema=schema), path)
    return path


def test_a_packed_file_is_known_by_its_schema_and_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    assert packed_kind(pq.read_schema(write_packed(tmp_path / "a.parquet", []))) is OUTCOMES
    assert packed_kind(OUTCOMES.schema) is None
    alien = pa.schema([pa.field("record", pa.large_binary())], metadata={PACKED_KEY: b"clicks"})
    with pytest.raises(InvalidInput, match="unknown kind 'clicks'"):
        packed_kind(pq.read_schema(write_packed(tmp_path / "b.parquet", [], alien)))


def test_records_are_converted_and_the_bad_ones_flagged_with_row_field_and_reason(tmp_path: Path) -> None:
    # outcome: request_id, item_id, ts (epoch µs), event, value, then the logged time (ns)
    good = b'["r1","i1",1764000000000000,"click",null,1764000000000000000]'
    no_ts = b'["r2","i2",null,"play",12.5,1764000001000000000]'  # ts missing: the logged time
    bad_value = b'["r3","i3",1764000000000000,"play","long",1764000000000000000]'
    not_json = b"[not json"
    path = write_packed(tmp_path / "o.parquet", [good, no_ts, bad_value, not_json])
    table = read_packed(path, OUTCOMES)
    assert table.column("_row").to_pylist() == [1, 2, 3, 4]
    assert table.column("request_id").to_pylist() == ["r1", "r2", None, None]
    assert table.column("ts").cast(pa.int64()).to_pylist()[:2] == [1764000000000000, 1764000001000000]
    violations = table.column("_tv").to_pylist()
    assert violations[:2] == [None, None]
    assert violations[2]["rule"] == "type" and violations[2]["field"] == "value"
    assert violations[3]["field"] is None and "cannot convert: JSONDecodeError" in violations[3]["detail"]


def test_an_empty_packed_file_gives_no_rows_with_every_column(tmp_path: Path) -> None:
    table = read_packed(write_packed(tmp_path / "e.parquet", []), OUTCOMES)
    assert table.num_rows == 0
    assert table.column_names == [*OUTCOMES.schema.names, "_row", "_tv"]


def test_read_spool_file_names_the_first_record_it_cannot_convert(tmp_path: Path) -> None:
    good = b'["r1","i1",1764000000000000,"click",null,1764000000000000000]'
    bad = b'["r2","i2","yesterday","click",null,1764000000000000000]'
    path = write_packed(tmp_path / "o.parquet", [good, good, bad])
    with pytest.raises(InvalidInput, match=r"row 3: cannot convert \(field 'ts': not a time .*'yesterday'"):
        read_spool_file(path)
    assert read_spool_file(write_packed(tmp_path / "g.parquet", [good])).column("request_id").to_pylist() == [
        "r1"
    ]
