"""Ingest: source files or Arrow tables → validated, deduplicated, atomically committed rows.

One batch is staged in an in-memory DuckDB database:

1. every source is normalized into the stored form by one SQL query per file, each record
   tagged with the first contract rule it breaks (``normalize.py``);
2. valid records are deduplicated by natural key, first within the batch (the first in
   file and row order wins), then against the lake; a repeat with equal content is
   dropped, one with different content is a conflict;
3. new rows are written as Parquet partitioned by date, refused records to quarantine;
4. one store transaction lists the new files and the consumed source files.

A process killed anywhere before step 4 leaves files no reader sees (the next writer
deletes them) and source files not marked as ingested, so re-running gives one copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from recops.contract import FEATURE_ROWS, FieldType, RecordKind, get_kind
from recops.errors import InvalidInput
from recops.ingest.normalize import (
    SQL_TYPES,
    json_struct_spec,
    literal,
    normalize_select,
    quote,
)
from recops.ingest.sources import expand, file_format, read_lines
from recops.lake import Lake
from recops.lake.catalog import BatchCounts, SourceFile
from recops.lake.engine import file_list_sql, new_connection
from recops.lake.layout import QUARANTINE, new_batch_id

# A batch groups source files up to this many bytes, so small SDK files share one commit.
BATCH_BYTES = 512 << 20
BATCH_FILES = 2_000

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
    rules: Counter[str] = field(default_factory=Counter)
    batches: list[str] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        for name in ("files_read", "files_skipped", "rows_read", "rows_stored", "rows_duplicate",
                     "rows_quarantined", "rows_conflict"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rules.update(other.rules)
        self.batches.extend(other.batches)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "files_read": self.files_read,
            "files_skipped": self.files_skipped,
            "rows_read": self.rows_read,
            "rows_stored": self.rows_stored,
            "rows_duplicate": self.rows_duplicate,
            "rows_quarantined": self.rows_quarantined,
            "rows_conflict": self.rows_conflict,
            "quarantined_by_rule": dict(sorted(self.rules.items())),
            "batches": self.batches,
        }


def ingest_files(
    lake: Lake,
    kind_name: str,
    paths: Sequence[str | Path],
    *,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest Parquet / JSON Lines files, folders or globs as records of one kind.

    Files already ingested unchanged (same path, size and modification time) are skipped
    without being read.
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
    return report


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


class _Batch:
    """One atomic ingest batch staged in an in-memory DuckDB."""

    def __init__(self, lake: Lake, kind: RecordKind, origin: str) -> None:
        self.lake = lake
        self.kind = kind
        self.origin = origin
        self.con = new_connection()
        self.sources: list[tuple[str, str, str]] = []  # (label, mode, relation for raw records)
        self.staged = False

    # ------------------------------------------------------------------ staging

    def add_file(self, path: Path) -> None:
        if file_format(path) == "jsonl":
            self._add_lines(read_lines(path), str(path))
        else:
            self._add_parquet(path)

    def add_table(self, table: pa.Table, label: str) -> None:
        name = f"src_{len(self.sources)}"
        self.con.register(name, table)
        rel = f"(SELECT row_number() OVER () AS _row, * FROM {name})"
        self._stage(rel, json_mode=False, types=self._types(f"SELECT * FROM {name}"), label=label,
                    raw=rel)  # fmt: skip

    def _add_lines(self, lines: pa.Table, label: str) -> None:
        name = f"src_{len(self.sources)}"
        self.con.register(name, lines)
        spec = literal(json_struct_spec(self.kind))
        rel = (
            f"(SELECT _row, CASE WHEN json_valid(_line) AND json_type(CAST(_line AS JSON)) = "
            f"'OBJECT' THEN from_json(_line, {spec}) END AS _json FROM {name})"
        )
        self._stage(rel, json_mode=True, types={}, label=label, raw=name)

    def _add_parquet(self, path: Path) -> None:
        scan = f"read_parquet({literal(str(path))}, file_row_number = true)"
        try:
            types = self._types(f"SELECT * FROM {scan}")
        except duckdb.Error as exc:
            raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from None
        types.pop("file_row_number", None)
        rel = f"(SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) FROM {scan})"
        if self.kind is FEATURE_ROWS and "values" not in types:
            rel, types = _wide_feature_rows(rel, types)
        self._stage(rel, json_mode=False, types=types, label=str(path), raw=rel)

    def _types(self, sql: str) -> dict[str, str]:
        described = self.con.execute(f"DESCRIBE {sql}").fetchall()
        return {row[0]: row[1] for row in described}

    def _stage(self, rel: str, *, json_mode: bool, types: dict[str, str], label: str, raw: str) -> None:
        index = len(self.sources)
        self.sources.append((label, "json" if json_mode else "table", raw))
        body = normalize_select(self.kind, rel, json_mode=json_mode, types=types)
        select = f"SELECT {index} AS _file, * FROM ({body})"
        if self.staged:
            self.con.execute(f"INSERT INTO staged {select}")
        else:
            self.con.execute(f"CREATE TEMP TABLE staged AS {select}")
            self.staged = True

    # ------------------------------------------------------------------ dedupe and commit

    def commit(self, consumed: list[SourceFile]) -> IngestReport:
        report = IngestReport(self.kind.name)
        report.files_read = len(consumed)
        batch_id = new_batch_id()
        catalog = self.lake.catalog
        catalog.begin(batch_id, self.kind.name, self.origin)
        files: dict[str, list[Path]] = {}
        if self.staged:
            report.rows_read = self._scalar("SELECT count(*) FROM staged")
            self._dedupe()
            now = datetime.now(UTC)
            files[self.kind.name] = self._write_rows(batch_id, now)
            files[QUARANTINE] = self._write_quarantine(batch_id, now)
            report.rows_stored = self._scalar("SELECT count(*) FROM new_rows")
            report.rows_duplicate = self._scalar("SELECT count(*) FROM repeats WHERE same")
            report.rows_conflict = self._scalar("SELECT count(*) FROM repeats WHERE NOT same")
            report.rows_quarantined = self._scalar("SELECT count(*) FROM refused")
            for rule, n in self.con.execute("SELECT rule, count(*) FROM refused GROUP BY rule").fetchall():
                report.rules[rule] = n
        counts = BatchCounts(report.rows_read, report.rows_stored, report.rows_duplicate,
                             report.rows_quarantined)  # fmt: skip
        catalog.commit(batch_id, self.kind.name, files, consumed, counts)
        report.batches.append(batch_id)
        self.con.close()
        return report

    def _scalar(self, sql: str) -> int:
        row = self.con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def _key_match(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{quote(k)} IS NOT DISTINCT FROM {b}.{quote(k)}" for k in self.kind.key)

    def _content(self, alias: str) -> str:
        return "(" + ", ".join(f"{alias}.{quote(c)}" for c in self.kind.column_names) + ")"

    def _dedupe(self) -> None:
        keys = ", ".join(quote(k) for k in self.kind.key)
        con = self.con
        con.execute(
            "CREATE TEMP TABLE firsts AS SELECT * FROM staged WHERE _violation IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _file, _row) = 1"
        )
        # Repeats of a key inside this batch, judged against the first occurrence.
        con.execute(
            f"CREATE TEMP TABLE repeats AS SELECT s.*, {self._content('s')} IS NOT DISTINCT FROM "
            f"{self._content('f')} AS same, 'row ' || f._row || ' earlier in this batch' AS stored_in "
            "FROM staged s JOIN firsts f ON "
            f"{self._key_match('s', 'f')} AND (s._file <> f._file OR s._row <> f._row) "
            "WHERE s._violation IS NULL"
        )
        existing = self._existing_files()
        if existing:
            cols = ", ".join(f"e.{quote(c)}" for c in [*self.kind.column_names, "_batch"])
            con.execute(
                f"CREATE TEMP TABLE hits AS SELECT {cols} FROM read_parquet({file_list_sql(existing)}, "
                f"union_by_name = true, hive_partitioning = false) e SEMI JOIN firsts f ON {self._key_match('e', 'f')}"
            )
            con.execute(
                f"INSERT INTO repeats SELECT f.*, {self._content('f')} IS NOT DISTINCT FROM "
                f"{self._content('h')}, 'batch ' || h._batch FROM firsts f JOIN hits h ON "
                f"{self._key_match('f', 'h')}"
            )
            con.execute(
                f"CREATE TEMP TABLE new_rows AS SELECT * FROM firsts f ANTI JOIN hits h ON "
                f"{self._key_match('f', 'h')}"
            )
        else:
            con.execute("CREATE TEMP TABLE new_rows AS SELECT * FROM firsts")

    def _existing_files(self) -> list[Path]:
        """Lake files that may hold a key of this batch (by date when the key has the time)."""
        files = self.lake.catalog.live_file_rows(self.kind.name)
        if self.kind.time_column in self.kind.key:
            col = quote(self.kind.time_column)
            dates = {d for (d,) in self.con.execute(
                f"SELECT DISTINCT strftime({col}, '%Y-%m-%d') FROM firsts").fetchall()}  # fmt: skip
            files = [f for f in files if f.date in dates]
        return [self.lake.data_dir / f.path for f in files]

    def _write_rows(self, batch_id: str, now: datetime) -> list[Path]:
        cols = ", ".join(quote(c) for c in self.kind.column_names)
        time_col = quote(self.kind.time_column)
        if not self._scalar("SELECT count(*) FROM new_rows"):
            return []
        target = self.lake.data_dir / self.kind.name
        return self._copy(
            f"SELECT {cols}, {literal(batch_id)} AS _batch, {literal(now.isoformat())}::TIMESTAMPTZ "
            f"AS _ingested_at, strftime({time_col}, '%Y-%m-%d') AS date FROM new_rows "
            f"ORDER BY {time_col}",
            target,
            batch_id,
        )

    def _write_quarantine(self, batch_id: str, now: datetime) -> list[Path]:
        con = self.con
        con.execute(
            "CREATE TEMP TABLE refused AS "
            "SELECT _file, _row, _violation.rule AS rule, _violation.field AS field, "
            "_violation.detail AS detail, NULL::VARCHAR AS record FROM staged "
            "WHERE _violation IS NOT NULL "
            "UNION ALL SELECT _file, _row, 'conflict', "
            f"{literal(', '.join(self.kind.key))}, "
            f"{literal(self.kind.record + ' with this key is stored with different content (')} "
            f"|| stored_in || ')', CAST(to_json({self._named_content()}) AS VARCHAR) "
            "FROM repeats WHERE NOT same"
        )
        if not self._scalar("SELECT count(*) FROM refused"):
            return []
        self._fill_raw_records()
        labels = pa.table({"_file": list(range(len(self.sources))),
                           "source": [s[0] for s in self.sources]})  # fmt: skip
        con.register("source_labels", labels)
        target = self.lake.data_dir / QUARANTINE
        return self._copy(
            f"SELECT {literal(self.kind.name)} AS kind, l.source, r._row AS row, r.rule, r.field, "
            f"r.detail, r.record, {literal(batch_id)} AS _batch, "
            f"{literal(now.isoformat())}::TIMESTAMPTZ AS _ingested_at, "
            f"strftime({literal(now.isoformat())}::TIMESTAMPTZ, '%Y-%m-%d') AS date "
            "FROM refused r JOIN source_labels l USING (_file) ORDER BY r._file, r._row",
            target,
            batch_id,
        )

    def _named_content(self) -> str:
        return "{" + ", ".join(f"{literal(c)}: {quote(c)}" for c in self.kind.column_names) + "}"

    def _fill_raw_records(self) -> None:
        """Attach each refused record's original text (JSON line or source row as JSON)."""
        for index, (_label, mode, raw) in enumerate(self.sources):
            if mode == "json":
                record = "CAST(s._line AS VARCHAR)"
                source = raw
            else:
                record = "CAST(to_json(s) AS VARCHAR)"
                source = raw
            self.con.execute(
                f"UPDATE refused SET record = x.record FROM (SELECT s._row, {record} AS record "
                f"FROM {source} s WHERE s._row IN (SELECT _row FROM refused WHERE _file = {index} "
                f"AND record IS NULL)) x WHERE refused._file = {index} AND refused._row = x._row "
                "AND refused.record IS NULL"
            )

    def _copy(self, select: str, target: Path, batch_id: str) -> list[Path]:
        target.mkdir(parents=True, exist_ok=True)
        rows = self.con.execute(
            f"COPY ({select}) TO {literal(str(target))} (FORMAT parquet, PARTITION_BY (date), "
            f"FILENAME_PATTERN {literal('part-' + batch_id + '-{i}')}, RETURN_FILES true, "
            "OVERWRITE_OR_IGNORE true, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        ).fetchall()
        return [Path(p) for p in rows[0][1]] if rows else []


def _wide_feature_rows(rel: str, types: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A Parquet feature-row file with one column per feature → ``values`` / ``value_strings``."""
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
            value = f"TRY_CAST({q} AS DOUBLE)"
            numeric.append(f"{{'key': {literal(c)}, 'value': {value}, 'keep': true}}")

    def as_map(entries: list[str], value_type: str) -> str:
        if not entries:
            return f"CAST(MAP() AS MAP(VARCHAR, {value_type}))"
        return (
            f"map_from_entries([{{'key': e.key, 'value': e.value}} for e in [{', '.join(entries)}] "
            "if e.keep])"
        )

    select = ", ".join([quote(c) for c in fixed if c in types])
    rel = (
        f'(SELECT _row{", " + select if select else ""}, {as_map(numeric, "DOUBLE")} AS "values", '
        f"{as_map(strings, 'VARCHAR')} AS value_strings FROM {rel})"
    )
    new_types = {c: types[c] for c in fixed if c in types}
    new_types["values"] = SQL_TYPES[FieldType.NUMBER_MAP]
    new_types["value_strings"] = SQL_TYPES[FieldType.STRING_MAP]
    return rel, new_types
