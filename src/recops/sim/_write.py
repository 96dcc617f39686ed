"""World.write(): the world as the files a platform ships, optionally dirty.

Layout: ``<kind>/<YYYY-MM-DD>[_NN].<ext>``, one file (or ``files_per_day`` parts) per
UTC day of the kind's time column; Parquet feature rows are wide (one column per
feature), so they go one folder per feature group: ``feature_rows/<group>/...``.

"File order" is the sorted order of the relative paths (chronological), then line order.
Duplicates and conflicts are placed in the original's file (after the valid records) or
in the next file of the same folder, so a conflict always follows its original.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recops.contract import KINDS, TIME, FieldType, RecordKind
from recops.sim._broken import JSON_RULES, PARQUET_RULES, Broken, make_broken
from recops.sim._clock import DAY, utc_date
from recops.sim._platform import GROUP_BY_NAME
from recops.sim.manifest import BrokenRecord, KindManifest, WriteManifest

if TYPE_CHECKING:
    from recops.sim.world import World

I64 = npt.NDArray[np.int64]
FORMATS = {"parquet": "parquet", "jsonl": "jsonl", "jsonl.gz": "jsonl.gz"}

# JSON time forms, chosen per record: RFC 3339 with +00:00 and microseconds, with Z and
# milliseconds, epoch milliseconds, and RFC 3339 in another offset (same instant).
_ISO = "strftime(make_timestamp({t} * 1000), '%Y-%m-%dT%H:%M:%S.{digits}')"
_TIME_SQL = (
    "CASE __fmt"
    f" WHEN 0 THEN to_json({_ISO.format(t='{t}', digits='%f')} || '+00:00')"
    f" WHEN 1 THEN to_json({_ISO.format(t='{t}', digits='%g')} || 'Z')"
    " WHEN 2 THEN to_json({t})"
    f" ELSE to_json({_ISO.format(t='({t} + 7200000)', digits='%g')} || '+02:00') END"
)


def _entries(column: str, value: str) -> str:
    """SQL: the map ``column`` with each value ``e.value`` replaced by ``value``."""
    return f"map_from_entries(list_transform(map_entries({column}), e -> {{'key': e.key, 'value': {value}}}))"


def _json_sql(kind: RecordKind) -> str:
    """SQL that renders each row of ``part`` as one JSON line of the contract's form."""
    parts = []
    for f in kind.fields:
        column = f'"{f.name}"'
        if f.type is FieldType.TIME:
            expr = _TIME_SQL.format(t=column)
        elif f.type is FieldType.TIME_MAP:
            expr = f"to_json({_entries(column, _TIME_SQL.format(t='e.value'))})"
        elif f.type is FieldType.MIXED_MAP:
            numbers = _entries(column, "to_json(e.value)")
            strings = _entries(f'"{f.strings_column}"', "to_json(e.value)")
            expr = f"to_json(map_concat({numbers}, {strings}))"
        else:
            expr = column
        parts.append(f"'{f.name}', {expr}")
    return f"SELECT json_object({', '.join(parts)}) || chr(10) AS line FROM part"


@dataclass
class _File:
    """One output file: its valid rows, extra rows (re-sends) and broken records."""

    path: str
    folder: str
    rows: I64
    extra: list[int]
    conflict: list[bool]
    broken: list[Broken]


def write_world(
    world: World,
    directory: Path,
    fmt: str,
    *,
    files_per_day: int,
    duplicate_rate: float,
    broken_rate: float,
    conflict_rate: float,
    seed: int,
) -> WriteManifest:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    for name, rate in (
        ("duplicate_rate", duplicate_rate),
        ("broken_rate", broken_rate),
        ("conflict_rate", conflict_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if files_per_day < 1:
        raise ValueError("files_per_day must be >= 1")
    directory.mkdir(parents=True, exist_ok=True)
    manifest = WriteManifest(str(directory), fmt)
    con = duckdb.connect()
    try:
        for number, (name, kind) in enumerate(KINDS.items()):
            rng = np.random.default_rng([seed, 0x57, number])
            manifest.counts[name] = _write_kind(
                con, kind, world.tables[name], directory, fmt, files_per_day,
                (duplicate_rate, conflict_rate, broken_rate), rng,
            )  # fmt: skip
    finally:
        con.close()
    (directory / "ground_truth.json").write_text(json.dumps(world.truth.to_json(), indent=2) + "\n")
    (directory / "manifest.json").write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    return manifest


def _ms(table: pa.Table, column: str) -> I64:
    values = table[column].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(values // 1000, dtype=np.int64)


def _plan_files(kind: RecordKind, table: pa.Table, fmt: str, files_per_day: int) -> list[_File]:
    n = table.num_rows
    day = _ms(table, kind.time_column) // DAY if n else np.zeros(0, dtype=np.int64)
    if kind.name == "feature_rows" and fmt == "parquet":
        groups = table["feature_group"].to_pylist()
        folder_names = sorted(set(groups))
        folder = np.array([folder_names.index(g) for g in groups], dtype=np.int64)
        folder_names = [f"{kind.name}/{g}" for g in folder_names]
    else:
        folder = np.zeros(n, dtype=np.int64)
        folder_names = [kind.name]
    order = np.lexsort((np.arange(n), day, folder))
    files: list[_File] = []
    block_key = folder[order] * (1 << 40) + day[order]
    starts = np.nonzero(np.diff(block_key, prepend=-1))[0] if n else np.zeros(0, dtype=np.int64)
    for b, start in enumerate(starts):
        end = starts[b + 1] if b + 1 < len(starts) else n
        rows = order[start:end]
        name = folder_names[int(folder[rows[0]])]
        date = utc_date(int(day[rows[0]]) * DAY)
        ext = FORMATS[fmt]
        for part, chunk in enumerate(np.array_split(rows, files_per_day)):
            suffix = f"_{part:02d}" if files_per_day > 1 else ""
            files.append(_File(f"{name}/{date}{suffix}.{ext}", name, chunk, [], [], []))
    files.sort(key=lambda f: f.path)
    return files


def _write_kind(
    con: duckdb.DuckDBPyConnection,
    kind: RecordKind,
    table: pa.Table,
    directory: Path,
    fmt: str,
    files_per_day: int,
    rates: tuple[float, float, float],
    rng: np.random.Generator,
) -> KindManifest:
    duplicate_rate, conflict_rate, broken_rate = rates
    n = table.num_rows
    files = _plan_files(kind, table, fmt, files_per_day)
    file_of = np.zeros(n, dtype=np.int64)
    for i, f in enumerate(files):
        file_of[f.rows] = i
    chosen = rng.permutation(n)
    n_dup = round(duplicate_rate * n)
    n_conf = min(round(conflict_rate * n), n - n_dup)
    for pos, row in enumerate(chosen[: n_dup + n_conf]):
        home = int(file_of[row])
        target = home
        if rng.random() < 0.5 and home + 1 < len(files) and files[home + 1].folder == files[home].folder:
            target = home + 1
        files[target].extra.append(int(row))
        files[target].conflict.append(pos >= n_dup)
    for f in files:  # re-sends in random order, after the file's valid records
        shuffle = rng.permutation(len(f.extra))
        f.extra = [f.extra[i] for i in shuffle]
        f.conflict = [f.conflict[i] for i in shuffle]

    parquet = fmt == "parquet"
    rules = (PARQUET_RULES if parquet else JSON_RULES)[kind.name]
    n_broken = max(len(rules), round(broken_rate * n)) if broken_rate > 0 and n else 0
    broken_records: list[BrokenRecord] = []
    placements: dict[int, list[tuple[int, Broken]]] = {}
    for i in range(n_broken):
        template = int(rng.integers(0, n))
        rule, detail = rules[i % len(rules)]
        row = table.slice(template, 1).to_pylist()[0]
        placements.setdefault(int(file_of[template]), []).append(
            (int(rng.integers(0, 1 << 30)), make_broken(kind.name, row, i, rule, detail, parquet))
        )

    codes = rng.integers(0, 4, n).astype(np.int8)
    for i, f in enumerate(files):
        valid = len(f.rows) + len(f.extra)
        # Broken record j goes before the record at positions[j] of the valid+extra rows.
        inserts = sorted((key % (valid + 1), j, b) for j, (key, b) in enumerate(placements.get(i, [])))
        positions = [p for p, _, _ in inserts]
        f.broken = [b for _, _, b in inserts]
        for j, (p, _, b) in enumerate(inserts):
            broken_records.append(BrokenRecord(b.rule, b.detail, f.path, p + j + 1))
        indices = np.concatenate([f.rows, np.asarray(f.extra, dtype=np.int64)])
        part = _amend(kind.name, table.take(pa.array(indices)), len(f.rows), f.conflict)
        path = directory / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if parquet:
            _write_parquet(kind, part, f.broken, positions, path)
        else:
            _write_jsonl(con, kind, part, codes[indices], f.broken, positions, path, fmt == "jsonl.gz")
    broken_records.sort(key=lambda b: (b.file, b.line))
    return KindManifest(
        distinct_valid=n,
        duplicates_written=n_dup,
        conflicts_written=n_conf,
        broken=tuple(broken_records),
        files=tuple(f.path for f in files),
    )


# The non-key field a conflicting re-send changes, per kind.
_AMENDED = {
    "requests": "latency_ms",
    "outcomes": "value",
    "feature_rows": "materialized_at",
    "arrivals": "row_count",
    "changes": "description",
}


def _amend(kind: str, part: pa.Table, first_extra: int, conflict: list[bool]) -> pa.Table:
    """Change the content (never the key) of the conflicting re-sends."""
    if not any(conflict):
        return part
    mask = pa.array(np.concatenate([np.zeros(first_extra, dtype=bool), np.asarray(conflict, dtype=bool)]))
    column = _AMENDED[kind]
    index = part.schema.get_field_index(column)
    original = part[column]
    if kind == "outcomes":
        changed = pc.add(pc.fill_null(original, 0.0), 1.0)
    elif kind == "feature_rows":
        changed = pc.add(original, pa.scalar(1_000_000, pa.duration("us")))
    elif kind == "changes":
        changed = pc.binary_join_element_wise(pc.fill_null(original, ""), " (amended)", "")
    else:
        changed = pc.add(original, 7 if kind == "arrivals" else 1.5)
    amended = pc.if_else(mask, changed, original).cast(original.type)
    return part.set_column(index, part.schema.field(index), amended)


def _relaxed(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])


def _wide(part: pa.Table, group: str) -> pa.Table:
    """Feature rows of one group with one column per feature instead of the maps."""
    spec = GROUP_BY_NAME[group]
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: part[name] for name in ("feature_group", "entity_id", "event_ts", "materialized_at")
    }
    for name in spec.numeric:
        columns[name] = pc.map_lookup(part["values"], pa.scalar(name), "first")
    for name in spec.strings:
        columns[name] = pc.map_lookup(part["value_strings"], pa.scalar(name), "first")
    return pa.table(columns)


def _insert(table: pa.Table, extra: pa.Table, positions: list[int]) -> pa.Table:
    """``table`` with the rows of ``extra`` inserted before the given row positions."""
    combined = pa.concat_tables([table, extra])
    order = np.arange(table.num_rows, dtype=np.int64)
    order = np.insert(order, positions, np.arange(table.num_rows, combined.num_rows))
    return combined.take(pa.array(order))


def _write_parquet(
    kind: RecordKind, part: pa.Table, broken: list[Broken], positions: list[int], path: Path
) -> None:
    rows = [b.row for b in broken if b.row is not None]
    wide = kind.name == "feature_rows"
    group = path.parent.name
    out = _wide(part, group) if wide else part
    if rows:
        if wide:
            extra = _wide(pa.Table.from_pylist(rows, schema=_relaxed(kind.schema)), group)
        else:
            extra = pa.Table.from_pylist(rows, schema=_relaxed(kind.schema))
        out = _insert(out.cast(_relaxed(out.schema)), extra.cast(_relaxed(out.schema)), positions)
    pq.write_table(out, path)


def _json_input(kind: RecordKind, part: pa.Table, codes: npt.NDArray[np.int8]) -> pa.Table:
    """The part with times as epoch ms (what the SQL formats) and the time-form codes."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for field in part.schema:
        column = part[field.name].combine_chunks()
        if field.type == TIME:
            column = pc.divide(column.cast(pa.int64()), 1000)
        elif field.name == "feature_ts":
            items = pc.divide(column.items.cast(pa.int64()), 1000)
            column = pa.MapArray.from_arrays(column.offsets, column.keys, items)
        columns[field.name] = column
    columns["__fmt"] = pa.array(codes, pa.int8())
    return pa.table(columns)


def _write_jsonl(
    con: duckdb.DuckDBPyConnection,
    kind: RecordKind,
    part: pa.Table,
    codes: npt.NDArray[np.int8],
    broken: list[Broken],
    positions: list[int],
    path: Path,
    compress: bool,
) -> None:
    data = _json_input(kind, part, codes)
    con.register("part", data)
    try:
        reader = con.sql(_json_sql(kind)).to_arrow_reader(65_536)
        pending = list(zip(positions, [b.line or "" for b in broken], strict=True))
        with path.open("wb") as raw:
            gz = gzip.GzipFile("", "wb", compresslevel=1, fileobj=raw, mtime=0) if compress else None
            write = gz.write if gz is not None else raw.write
            written = 0
            for batch in reader:
                lines = batch.column(0)
                wide = pa.types.is_large_string(lines.type)
                offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64 if wide else np.int32)
                offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
                body = memoryview(lines.buffers()[2])
                cut = 0
                while pending and pending[0][0] <= written + len(lines):
                    at = pending[0][0] - written
                    write(body[offsets[cut] : offsets[at]])
                    write(pending.pop(0)[1].encode() + b"\n")
                    cut = at
                write(body[offsets[cut] : offsets[len(lines)]])
                written += len(lines)
            for _, line in pending:
                write(line.encode() + b"\n")
            if gz is not None:
                gz.close()
    finally:
        con.unregister("part")
