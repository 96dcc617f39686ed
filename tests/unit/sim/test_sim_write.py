"""World.write(): the files hold exactly what the manifest says."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recops.contract import KINDS, FieldType
from recops.sim import World
from recops.sim._broken import JSON_RULES, PARQUET_RULES, to_json_form

TIMES = {name: [f.name for f in kind.fields if f.type is FieldType.TIME] for name, kind in KINDS.items()}


def _ms(value: Any) -> Any:
    """A contract time (RFC 3339 string, epoch ms number, or datetime) as epoch ms."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, str):
        return round(datetime.fromisoformat(value).timestamp() * 1000)
    return value


def _normal(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for name in TIMES[kind]:
        if name in out:
            out[name] = _ms(out[name])
    if kind == "requests" and isinstance(out.get("feature_ts"), dict):
        out["feature_ts"] = {k: _ms(v) for k, v in out["feature_ts"].items()}
    return out


def _key(kind: str, record: dict[str, Any]) -> tuple[Any, ...]:
    """The key of a record read back (times as epoch ms where they parse)."""
    values = []
    for name in KINDS[kind].key:
        value = record.get(name)
        try:
            values.append(_ms(value) if name in TIMES[kind] else value)
        except ValueError:
            values.append(value)
    return tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in values)


def _records(directory: Path, path: str, fmt: str) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(1-based line or row, record or None when the line is not JSON) in file order."""
    if fmt == "parquet":
        for i, row in enumerate(pq.read_table(directory / path).to_pylist(), start=1):
            yield i, row
        return
    opener = gzip.open if fmt == "jsonl.gz" else open
    with opener(directory / path, "rt") as lines:
        for i, line in enumerate(lines, start=1):
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError:
                yield i, None


def _expected(world: World, kind: str, fmt: str) -> dict[tuple[Any, ...], str]:
    """The world's records as the files should carry them, by key."""
    out = {}
    for row in world.tables[kind].to_pylist():
        if fmt == "parquet":
            record = dict(row)
            if kind == "feature_rows":
                record.update(record.pop("values"))
                record.update(record.pop("value_strings"))
        else:
            record = to_json_form(kind, row)
        record = _normal(kind, record)
        out[tuple(record[k] for k in KINDS[kind].key)] = json.dumps(record, sort_keys=True, default=str)
    return out


def _violations(kind: str, record: dict[str, Any], fmt: str) -> set[str]:
    """Which contract rules a record read back breaks (the subset the writer uses)."""
    found = set()
    for field in KINDS[kind].fields:
        if field.name == "values" and fmt == "parquet":
            continue  # wide: one column per feature instead
        if field.required and record.get(field.name) is None:
            found.add("required")
    for name in TIMES[kind]:
        value = record.get(name)
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                found.add("time_format")
    # field -> the JSON types the contract accepts there (None is always accepted)
    accepted: dict[str, type | tuple[type, ...]] = {
        "latency_ms": (int, float),
        "value": (int, float),
        "values": dict,
        "row_count": int,
        "version": str,
    }
    for name, types in accepted.items():
        if record.get(name) is not None and not isinstance(record[name], types):
            found.add("type")
    if record.get("status") is not None and record["status"] not in ("ok", "fallback", "error"):
        found.add("allowed")
    for name in ("latency_ms", "row_count", "bytes"):
        if isinstance(record.get(name), int | float) and record[name] < 0:
            found.add("minimum")
    for c in record.get("candidates") or []:
        propensity, position = c.get("propensity"), c.get("position")
        if (
            c.get("item_id") is None
            or c.get("source") is None
            or (position is not None and position < 0)
            or (propensity is not None and not 0 < propensity <= 1)
        ):
            found.add("candidate")
    return found


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "jsonl.gz"])
def test_files_hold_what_the_manifest_says(small_world: World, tmp_path: Path, fmt: str) -> None:
    manifest = small_world.write(
        tmp_path, fmt, files_per_day=2, duplicate_rate=0.02, broken_rate=0.002, conflict_rate=0.01, seed=9
    )
    assert json.loads((tmp_path / "ground_truth.json").read_text()) == json.loads(
        json.dumps(small_world.truth.to_json())
    )
    for kind, spec in KINDS.items():
        m = manifest[kind]
        expected = _expected(small_world, kind, fmt)
        broken_at = {(b.file, b.line): b for b in m.broken}
        seen: dict[tuple[Any, ...], str] = {}
        duplicates = conflicts = 0
        found_broken = set()
        for path in m.files:
            for line, record in _records(tmp_path, path, fmt):
                if (path, line) in broken_at:
                    rule = broken_at[(path, line)].rule
                    found_broken.add((path, line))
                    if rule == "json":
                        assert record is None
                        continue
                    assert record is not None and _violations(kind, record, fmt) == {rule}, (record, rule)
                    assert _key(kind, record) not in expected
                    continue
                assert record is not None, (path, line)
                record = _normal(kind, record)
                key = tuple(record[k] for k in spec.key)
                content = json.dumps(record, sort_keys=True, default=str)
                if key not in seen:
                    assert content == expected[key], (kind, key)  # the original comes first
                    seen[key] = content
                elif content == seen[key]:
                    duplicates += 1
                else:
                    conflicts += 1
        assert len(seen) == m.distinct_valid == small_world.tables[kind].num_rows, kind
        assert duplicates == m.duplicates_written, kind
        assert conflicts == m.conflicts_written, kind
        assert found_broken == set(broken_at), kind
        rules = PARQUET_RULES if fmt == "parquet" else JSON_RULES
        assert m.broken_by_rule.keys() == {rule for rule, _ in rules[kind]}, kind
    assert manifest["requests"].duplicates_written > 0 and manifest["requests"].conflicts_written > 0


def test_parquet_feature_rows_are_wide_and_one_group_per_file(small_world: World, tmp_path: Path) -> None:
    manifest = small_world.write(tmp_path, "parquet")
    for path in manifest["feature_rows"].files:
        table = pq.read_table(tmp_path / path)
        assert "values" not in table.column_names
        assert set(table["feature_group"].to_pylist()) == {Path(path).parent.name}
        assert table.schema.field("event_ts").type == pa.timestamp("us", tz="UTC")


def test_clean_write_has_one_file_per_day_and_no_dirt(small_world: World, tmp_path: Path) -> None:
    manifest = small_world.write(tmp_path, "jsonl")
    assert manifest["requests"].files == (
        "requests/2026-10-01.jsonl",
        "requests/2026-10-02.jsonl",
        "requests/2026-10-03.jsonl",
    )
    for m in manifest.counts.values():
        assert m.duplicates_written == m.conflicts_written == m.broken_written == 0
    lines = (tmp_path / "requests/2026-10-01.jsonl").read_text().splitlines()
    forms = {type(json.loads(line)["ts"]).__name__ for line in lines}
    assert forms == {"str", "int"}  # RFC 3339 strings and epoch milliseconds, mixed


def test_write_rejects_unknown_formats(small_world: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        small_world.write(tmp_path, "csv")
