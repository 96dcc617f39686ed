"""Dataset descriptions: digests, rows, time ranges and schemas checked against independent reads."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recops.errors import InvalidInput
from recops.registry import describe_dataset
from recops.registry.datasets import path_digest
from tests.unit.registry.helpers import T0, events, folder_digest, sha256_file, write_parquet


def test_parquet_file_digest_rows_range_schema(tmp_path: Path) -> None:
    table = events(500, step=timedelta(minutes=3))
    path = write_parquet(tmp_path / "train.parquet", table)
    d = describe_dataset(path, upstream=["play_events:2026-10-01T00", "catalog:2026-10-01"])
    assert d.digest == "sha256:" + sha256_file(path)  # what `sha256sum train.parquet` prints
    assert d.rows == pq.read_metadata(path).num_rows == 500
    assert (d.time_min, d.time_max) == (pc.min(table["ts"]).as_py(), pc.max(table["ts"]).as_py())
    assert d.time_column == "ts" and d.computed and d.format == "parquet" and d.files == 1
    assert [c for c, _ in d.schema] == table.column_names
    assert d.bytes == path.stat().st_size
    assert d.uri == path.resolve().as_uri()
    assert [str(p) for p in d.upstream] == ["catalog:2026-10-01", "play_events:2026-10-01T00"]


def test_folder_digest_is_the_sorted_sha256sum_manifest(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    files = [
        write_parquet(root / "date=2026-10-01" / "part-0.parquet", events(40)),
        write_parquet(root / "date=2026-10-02" / "part-0.parquet", events(30, start=T0 + timedelta(days=1))),
        write_parquet(root / "a.parquet", events(5, seed=3)),
    ]
    (root / "_SUCCESS").write_text("")  # not data
    (root / ".hidden.parquet").write_bytes(b"junk")  # not data
    d = describe_dataset(root)
    assert d.digest == folder_digest(root, files)
    assert d.rows == 75 and d.files == 3
    assert d.time_min == T0 and d.time_max == T0 + timedelta(days=1) + 29 * timedelta(minutes=7)
    # Any change of content changes the digest; the same content elsewhere keeps it.
    write_parquet(root / "a.parquet", events(5, seed=4))
    assert describe_dataset(root).digest != d.digest
    copy = tmp_path / "copy"
    for f in files:
        target = copy / f.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
    assert describe_dataset(copy).digest == describe_dataset(root).digest


def test_csv_and_gzipped_jsonl(tmp_path: Path) -> None:
    rows = [
        {"event_time": (T0 + timedelta(hours=i)).isoformat(), "item": f"i{i}", "score": i / 10}
        for i in range(24)
    ]
    csv_path = tmp_path / "scores.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["event_time", "item", "score"])
        writer.writeheader()
        writer.writerows(rows)
    d = describe_dataset(csv_path, time_column="event_time")
    assert (d.format, d.rows) == ("csv", 24)
    assert (d.time_min, d.time_max) == (T0, T0 + timedelta(hours=23))
    assert d.digest == "sha256:" + sha256_file(csv_path)

    folder = tmp_path / "jsonl"
    folder.mkdir()
    for day in range(2):
        with gzip.open(folder / f"day{day}.jsonl.gz", "wt") as handle:
            for r in rows[day * 12 : day * 12 + 12]:
                handle.write(json.dumps(r) + "\n")
    j = describe_dataset(folder, time_column="event_time")
    assert (j.format, j.rows, j.files) == ("jsonl", 24, 2)
    assert (j.time_min, j.time_max) == (T0, T0 + timedelta(hours=23))
    assert j.digest == folder_digest(folder, sorted(folder.iterdir()))


def test_epoch_millisecond_time_column(tmp_path: Path) -> None:
    path = tmp_path / "ms.jsonl"
    stamps = [1_790_000_000_000 + i * 60_000 for i in range(10)]
    path.write_text("".join(json.dumps({"ts_ms": s, "v": 1}) + "\n" for s in stamps))
    d = describe_dataset(path, time_column="ts_ms")
    assert d.time_min == datetime.fromtimestamp(stamps[0] / 1000, UTC)
    assert d.time_max == datetime.fromtimestamp(stamps[-1] / 1000, UTC)


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        describe_dataset(tmp_path / "missing")
    mixed = tmp_path / "mixed"
    write_parquet(mixed / "a.parquet", events(3))
    (mixed / "b.csv").write_text("ts,x\n2026-10-01T00:00:00Z,1\n")
    with pytest.raises(InvalidInput, match="mixed formats"):
        describe_dataset(mixed)
    with pytest.raises(InvalidInput, match="no column 'when'"):
        describe_dataset(mixed / "a.parquet", time_column="when")
    with pytest.raises(InvalidInput, match="not a local path"):
        describe_dataset("s3://bucket/data/")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="no Parquet, CSV or JSONL"):
        describe_dataset(empty)


def test_artifact_digest_of_a_folder_covers_every_file(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (model / "config.json").write_text('{"k": 1}')
    assert path_digest(model) == folder_digest(model, sorted(model.iterdir()))
    assert path_digest(model / "weights.bin") == "sha256:" + sha256_file(model / "weights.bin")
