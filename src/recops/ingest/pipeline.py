"""Ingest: source files or Arrow tables → validated, deduplicated, atomically committed rows.

A batch is staged as one Arrow table in the stored form (plus ``_id``, unique per record,
and ``_tv``, a type violation found while converting):

1. each source becomes stored-form Arrow: a Parquet file already in the stored form is
   read as is; anything else goes through one SQL query compiled from the contract
   (``normalize.py``);
2. the contract rules run as one query over the staged table (``rules.py``);
3. valid records are deduplicated by natural key (``dedupe.py``): first within the batch
   (first in file and row order wins), then against the lake;
4. new rows are written as Parquet per date with pyarrow, refused ones to quarantine;
5. one store transaction lists the new files and the consumed source files.

A process killed anywhere before step 5 leaves files no reader sees (the next writer
deletes them) and source files not marked as ingested, so re-running gives one copy.
DuckDB only ever sees the nested data through zero-copy Arrow scans; the heavy columns
are never materialized in a DuckDB table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recops.contract import FEATURE_ROWS, RecordKind, get_kind
from recops.contract.packed import packed_kind
from recops.errors import InvalidInput
from recops.ingest.dedupe import Dedupe, find_repeats
from recops.ingest.normalize import json_struct_spec, normalize_select
from recops.ingest.packed import read_packed, record_text_relation
from recops.ingest.rules import violations_sql
from recops.ingest.sources import expand, file_format, read_lines
from recops.ingest.staging import VIOLATION, raw_parquet_relation, staged_schema, wide_feature_rows
from recops.lake import Lake
from recops.lake.catalog import BatchCounts, SourceFile
from recops.lake.engine import new_connection
from recops.lake.layout import QUARANTINE, QUARANTINE_SCHEMA, new_batch_id, write_parquet
from recops.lake.sqltext import literal, quote

# A batch groups source files up to this many bytes, so small SDK files share one commit.
BATCH_BYTES = 256 << 20
BATCH_FILES = 2_000
DAY_US = 86_400_000_000

Progress = Callable[[str, int], None]  # (what happened, how many source files) → None


@dataclass
class IngestReport:
    """What an ingest did, summed over its batches."""

    kind: str
    files_read: int = 0
    files_skipped: int = 0
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    rows_conflict: int = 0
    files_removed: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    batches: list[str] = field(default_factory=list)
    #: The refused records (``row``, ``rule``, ``field``, ``detail``) of a body ingested
    #: with :func:`ingest_bodies`, so its caller can answer without reading quarantine back.
    refused: pa.Table | None = None

    COUNTS = ("files_read", "files_skipped", "rows_read", "rows_stored", "rows_duplicate",
              "rows_quarantined", "rows_conflict", "files_removed")  # fmt: skip

    def add(self, other: IngestReport) -> None:
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rules.update(other.rules)
        self.batches.extend(other.batches)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind}
        out.update({name: getattr(self, name) for name in self.COUNTS})
        out["quarantined_by_rule"] = dict(sorted(self.rules.items()))
        out["batches"] = self.batches
        return out


def ingest_files(
    lake: Lake,
    kind_name: str,
    paths: Sequence[str | Path],
    *,
    progress: Progress | None = None,
    remove: bool = False,
) -> IngestReport:
    """Ingest Parquet / JSON Lines files, folders or globs as records of one kind.

    Files already ingested unchanged (same path, size and modification time) are skipped
    without being read. With ``remove``, each source file is deleted once it is in the
    lake: after the commit of its batch, or when found already ingested unchanged (so a
    run killed between a commit and a deletion deletes it next time). For spool folders,
    which the SDK fills forever.
    """
    kind = _kind(kind_name)
    lake_dir = lake.data_dir.resolve()
    # The lake's own files are never input, even when a folder given contains the workspace.
    files = [f for f in expand(paths) if not f.is_relative_to(lake_dir)]
    report = IngestReport(kind.name)
    sources = [SourceFile.stat(f) for f in files]
    with lake.writer() as catalog:
        done = catalog.already_ingested(kind.name, sources)
        todo = [s for s in sources if s not in done]
        report.files_skipped = len(done)
        if progress and done:
            progress("skipped", len(done))
        for group in _groups(todo):
            batch = _Batch(lake, kind, origin="file")
            for src in group:
                batch.add_file(Path(src.path))
            report.add(batch.commit(group))
            if progress:
                progress("ingested", len(group))
            if remove:
                report.files_removed += _remove([Path(src.path) for src in group])
        if remove:
            report.files_removed += _remove([Path(src.path) for src in done])
    return report


def _remove(paths: Sequence[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue  # removed meanwhile by someone else: the goal either way
    return removed


@dataclass(frozen=True)
class Body:
    """One spooled body (an HTTP request's JSON Lines or Parquet) and the label of its source."""

    path: Path
    label: str


def ingest_bodies(
    lake: Lake, kind_name: str, bodies: Sequence[Body], *, origin: str = "http"
) -> list[IngestReport | InvalidInput]:
    """Ingest several bodies as ONE atomic batch (a group commit); one result per body.

    The fixed cost of a batch (the writer lock, the key scan against the lake, the Parquet
    files, the catalog transaction) is paid once for the group, which is what lets many
    concurrent small HTTP bodies reach the throughput of one large file. Each body's report
    counts only its own records and lists its refused ones; records repeated across bodies
    of a group resolve as they would in sequence (the earlier body wins). A body that
    cannot be read at all gets its :class:`InvalidInput` instead of a report and takes no
    part; the others commit without it.

    Bodies are not recorded as ingested source files: the same body may rightly come again,
    and natural keys already keep a repeat from storing anything twice.
    """
    kind = _kind(kind_name)
    results: list[IngestReport | InvalidInput] = []
    with lake.writer():
        batch = _Batch(lake, kind, origin=origin)
        staged: list[int] = []  # index in ``bodies`` of each staged source
        for index, body in enumerate(bodies):
            try:
                batch.add_file(body.path, label=body.label)
            except InvalidInput as exc:
                results.append(exc)
                continue
            results.append(IngestReport(kind.name))  # replaced by its share of the batch below
            staged.append(index)
        if not staged:
            batch.discard()
            return results
        report = batch.commit([])
    for index, share in zip(staged, batch.shares(report), strict=True):
        share.files_read = 1
        results[index] = share
    return results


def ingest_table(lake: Lake, kind_name: str, table: pa.Table, *, origin: str = "sdk") -> IngestReport:
    """Ingest records already in memory (SDK batches, HTTP bodies) as one atomic batch."""
    kind = _kind(kind_name)
    with lake.writer():
        batch = _Batch(lake, kind, origin=origin)
        batch.add_table(table, origin)
        return batch.commit([])


def _kind(name: str) -> RecordKind:
    try:
        return get_kind(name)
    except KeyError as exc:
        raise InvalidInput(str(exc.args[0])) from None


def _groups(sources: list[SourceFile]) -> list[list[SourceFile]]:
    groups: list[list[SourceFile]] = []
    size = 0
    for src in sources:
        if not groups or size + src.size > BATCH_BYTES or len(groups[-1]) >= BATCH_FILES:
            groups.append([])
            size = 0
        groups[-1].append(src)
        size += src.size
    return groups


@dataclass
class _Source:
    label: str  # file path, or sdk / http
    raw: str  # a relation with ``_row`` and the original record (``_line`` for JSON)
    json: bool


class _Batch:
    """One atomic ingest batch, staged as Arrow and queried through DuckDB."""

    def __init__(self, lake: Lake, kind: RecordKind, origin: str) -> None:
        self.lake = lake
        self.kind = kind
        self.origin = origin
        self.schema = staged_schema(kind)
        self.con = new_connection()
        self.sources: list[_Source] = []
        self.parts: list[pa.Table] = []
        self.split: _Split | None = None  # per-source outcome, set by commit

    # ------------------------------------------------------------------ staging

    def add_file(self, path: Path, *, label: str | None = None) -> None:
        if file_format(path) == "jsonl":
            self._add_lines(read_lines(path), label or str(path))
        else:
            self._add_parquet(path, label or str(path))

    def add_table(self, table: pa.Table, label: str) -> None:
        name = self._register(table.append_column("_row", pa.array(np.arange(1, table.num_rows + 1))))
        if not self._add_stored(table, label, f"(SELECT * FROM {name})"):
            self._add_converted(name, label, json_mode=False, types=self._types(name), raw=name)

    def _register(self, table: pa.Table) -> str:
        name = f"src_{len(self.sources)}"
        self.con.register(name, table)
        return name

    def _add_lines(self, lines: pa.Table, label: str) -> None:
        name = self._register(lines)
        spec = literal(json_struct_spec(self.kind))
        rel = (
            f"(SELECT _row, CASE WHEN json_valid(_line) AND json_type(CAST(_line AS JSON)) = "
            f"'OBJECT' THEN from_json(_line, {spec}) END AS _json FROM {name})"
        )
        self._add_converted(rel, label, json_mode=True, types={}, raw=name)

    def _add_parquet(self, path: Path, label: str) -> None:
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from None
        packed = packed_kind(schema)
        if packed is not None:
            if packed is not self.kind:
                raise InvalidInput(f"{path}: holds SDK records of kind {packed.name}, not {self.kind.name}")
            self._add_packed(path, label)
            return
        raw = raw_parquet_relation(path)
        if self._stored_form(schema):
            table = pq.read_table(path, columns=[n for n in self.schema.names if n in schema.names])
            self._add_stored(table, label, raw)
            return
        types = self._types(raw)
        types.pop("_row", None)
        rel = raw
        if self.kind is FEATURE_ROWS and "values" not in types:
            rel, types = wide_feature_rows(raw, types)
        self._add_converted(rel, label, json_mode=False, types=types, raw=raw)

    def _add_packed(self, path: Path, label: str) -> None:
        """Stage an SDK spool file in the packed form (quarantine shows its records with field names)."""
        table = read_packed(path, self.kind)
        ids = self._ids(table.column("_row"))
        columns = [table.column(f.name) for f in self.schema if f.name not in ("_id", "_tv")]
        staged = pa.Table.from_arrays([*columns, ids, table.column("_tv")], schema=self.schema)
        self._stage(staged, _Source(label, record_text_relation(path, self.kind), json=True))

    def _stored_form(self, schema: pa.Schema) -> bool:
        """True when the required columns are there and every contract column has the stored type."""
        required = {f.name for f in self.kind.fields if f.required}
        if not required <= set(schema.names):
            return False
        present = [f for f in self.schema if f.name in schema.names]
        return all(schema.field(f.name).type == f.type for f in present)

    def _add_stored(self, table: pa.Table, label: str, raw: str) -> bool:
        """Stage a table already in the stored form; False when it is not in that form."""
        if not self._stored_form(table.schema):
            return False
        n = table.num_rows
        columns = [
            table.column(f.name) if f.name in table.column_names else pa.nulls(n, f.type)
            for f in self.schema
            if f.name not in ("_id", "_tv")
        ]
        ids = self._ids(pa.array(np.arange(1, n + 1, dtype=np.int64)))
        staged = pa.Table.from_arrays([*columns, ids, pa.nulls(n, VIOLATION)], schema=self.schema)
        self._stage(staged, _Source(label, raw, json=False))
        return True

    def _add_converted(
        self, rel: str, label: str, *, json_mode: bool, types: dict[str, str], raw: str
    ) -> None:
        sql = normalize_select(self.kind, rel, json_mode=json_mode, types=types)
        try:
            table = self.con.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidInput(f"{label}: cannot read as {self.kind.name} ({exc})") from None
        ids = self._ids(table.column("_row"))
        table = table.drop_columns(["_row"]).append_column("_id", ids)
        table = table.select(self.schema.names).cast(self.schema)
        self._stage(table, _Source(label, raw, json=json_mode))

    def _ids(self, rows: pa.ChunkedArray | pa.Array) -> pa.Array:
        """``_id`` = source index in the high 32 bits, 1-based row in the low 32 bits."""
        base = len(self.sources) << 32
        return pc.add(pc.cast(rows, pa.int64()), base)

    def _stage(self, table: pa.Table, source: _Source) -> None:
        self.sources.append(source)
        self.parts.append(table)

    def _types(self, relation: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}

    # ------------------------------------------------------------------ commit

    def commit(self, consumed: list[SourceFile]) -> IngestReport:
        report = IngestReport(self.kind.name, files_read=len(consumed))
        batch_id = new_batch_id()
        catalog = self.lake.catalog
        catalog.begin(batch_id, self.kind.name, self.origin)
        files: dict[str, list[Path]] = {}
        if self.parts:
            staged = pa.concat_tables(self.parts)
            self.parts = []
            self.con.register("staged", staged)
            self.con.execute(f"CREATE TEMP TABLE bad AS {violations_sql(self.kind, 'staged')}")
            dedupe = find_repeats(self.con, self.kind, self.lake, staged)
            now = datetime.now(UTC)
            keep = self._keep_mask(staged, dedupe)
            stored = staged.filter(keep) if keep is not None else staged
            files[self.kind.name] = self._write_rows(stored, batch_id, now)
            refused = self._refused(dedupe, staged)
            files[QUARANTINE] = self._write_quarantine(refused.drop_columns(["_src"]), batch_id, now)
            report.rows_read = staged.num_rows
            report.rows_stored = stored.num_rows
            report.rows_duplicate = dedupe.duplicates
            report.rows_conflict = dedupe.conflicts
            report.rows_quarantined = refused.num_rows
            report.rules.update(Counter(refused.column("rule").to_pylist()))
            self.split = _Split(
                staged=_source_of(staged.column("_id")),
                stored=_source_of(stored.column("_id")),
                duplicate=_source_of(
                    self.con.execute("SELECT _id FROM compared WHERE same").to_arrow_table().column("_id")
                ),
                refused=refused,
            )
        counts = BatchCounts(
            report.rows_read, report.rows_stored, report.rows_duplicate, report.rows_quarantined
        )
        catalog.commit(batch_id, self.kind.name, files, consumed, counts)
        report.batches.append(batch_id)
        self.discard()
        return report

    def discard(self) -> None:
        """Release the batch's connection (after a commit, or instead of one)."""
        self.con.close()

    def shares(self, report: IngestReport) -> list[IngestReport]:
        """Each staged source's part of a committed batch, with its refused records."""
        n = len(self.sources)
        split = self.split
        assert split is not None, "shares of a batch that staged nothing"
        count = {name: np.bincount(ids, minlength=n) for name, ids in split.counted().items()}
        refused_src = split.refused.column("_src").to_numpy()
        shares = []
        for i in range(n):
            mine = split.refused.filter(refused_src == i)
            rules = Counter(mine.column("rule").to_pylist())
            shares.append(
                IngestReport(
                    self.kind.name,
                    rows_read=int(count["staged"][i]),
                    rows_stored=int(count["stored"][i]),
                    rows_duplicate=int(count["duplicate"][i]),
                    rows_quarantined=mine.num_rows,
                    rows_conflict=rules.get("conflict", 0),
                    rules=rules,
                    batches=list(report.batches),
                    refused=mine.select(["row", "rule", "field", "detail"]),
                )
            )
        return shares

    def _keep_mask(self, staged: pa.Table, dedupe: Dedupe) -> pa.Array | None:
        drop = self.con.execute(
            f"SELECT _id FROM bad UNION ALL SELECT _id FROM {dedupe.dropped}"
        ).to_arrow_table()
        if not drop.num_rows:
            return None
        return pc.invert(pc.is_in(staged.column("_id"), value_set=drop.column("_id")))

    def _write_rows(self, rows: pa.Table, batch_id: str, now: datetime) -> list[Path]:
        if not rows.num_rows:
            return []
        rows = rows.drop_columns(["_id", "_tv"])
        n = rows.num_rows
        rows = rows.append_column("_batch", pc.cast(_constant(batch_id, n), pa.string()))
        rows = rows.append_column(
            "_ingested_at", pa.array(np.full(n, int(now.timestamp() * 1e6)), pa.timestamp("us", tz="UTC"))
        )
        return self._write_by_date(rows, self.kind.name, self.kind.time_column, batch_id)

    def _write_by_date(self, rows: pa.Table, kind: str, time_column: str, batch_id: str) -> list[Path]:
        days = pc.divide(pc.cast(rows.column(time_column), pa.int64()), DAY_US)
        written: list[Path] = []
        unique = sorted(pc.unique(days).to_pylist())
        for day in unique:
            part = rows if len(unique) == 1 else rows.filter(pc.equal(days, day))
            date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
            path = self.lake.data_dir / kind / f"date={date}" / f"part-{batch_id}-0.parquet"
            write_parquet(part, path)
            written.append(path)
        return written

    def _refused(self, dedupe: Dedupe, staged: pa.Table) -> pa.Table:
        """Refused records with their rule, the original record text and ``_src`` (source index)."""
        con = self.con
        key = literal(", ".join(self.kind.key))
        con.execute(
            "CREATE TEMP TABLE refused AS SELECT _id, rule, field, detail FROM bad "
            f"UNION ALL SELECT _id, 'conflict', {key}, detail FROM {dedupe.conflicting}"
        )
        per_source = con.execute(
            "SELECT _id >> 32 AS src, bool_or(rule IN ('type', 'time_format')) FROM refused GROUP BY ALL"
        ).fetchall()
        refused_ids = con.execute("SELECT _id FROM refused").to_arrow_table().column("_id")
        con.register("refused_rows", staged.filter(pc.is_in(staged.column("_id"), value_set=refused_ids)))
        stored = "{" + ", ".join(f"{literal(c)}: s.{quote(c)}" for c in self.kind.column_names) + "}"
        parts = [f"SELECT _id, CAST(to_json({stored}) AS VARCHAR) AS record, 1 AS pref FROM refused_rows s"]
        for index, mistyped in per_source:
            source = self.sources[index]
            if not (source.json or mistyped):
                continue  # the staged row is the record as sent
            # The original text: the JSON line, or the Parquet row before conversion.
            record = "CAST(s._line AS VARCHAR)" if source.json else "CAST(to_json(s) AS VARCHAR)"
            parts.append(
                f"SELECT r._id, {record} AS record, 0 AS pref FROM refused r JOIN {source.raw} s "
                f"ON r._id = {index << 32} + s._row WHERE r._id >> 32 = {index}"
            )
        labels = pa.table({"_src": list(range(len(self.sources))), "source": [s.label for s in self.sources]})
        con.register("source_labels", labels)
        con.execute("SET arrow_large_buffer_size = true")
        return con.execute(
            f"WITH x AS ({' UNION ALL '.join(parts)}), "
            "best AS (SELECT _id, arg_min(record, pref) AS record FROM x GROUP BY _id) "
            f"SELECT {literal(self.kind.name)} AS kind, l.source, r._id & 4294967295 AS row, r.rule, "
            "r.field, r.detail, best.record, r._id >> 32 AS _src FROM refused r LEFT JOIN best USING (_id) "
            "JOIN source_labels l ON l._src = r._id >> 32 ORDER BY r._id"
        ).to_arrow_table()

    def _write_quarantine(self, refused: pa.Table, batch_id: str, now: datetime) -> list[Path]:
        if not refused.num_rows:
            return []
        n = refused.num_rows
        table = refused.append_column("_batch", pa.array([batch_id] * n, pa.string()))
        table = table.append_column("_ingested_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))
        return self._write_by_date(table.cast(QUARANTINE_SCHEMA), QUARANTINE, "_ingested_at", batch_id)


@dataclass(frozen=True)
class _Split:
    """What a committed batch did, by source: source indexes of its rows, and the refused."""

    staged: np.ndarray
    stored: np.ndarray
    duplicate: np.ndarray
    refused: pa.Table  # quarantine rows plus ``_src``

    def counted(self) -> dict[str, np.ndarray]:
        return {"staged": self.staged, "stored": self.stored, "duplicate": self.duplicate}


def _source_of(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Source index of each ``_id`` (its high 32 bits)."""
    shifted: np.ndarray = np.right_shift(np.asarray(pc.cast(ids, pa.int64())), 32)
    return shifted


def _constant(value: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))
