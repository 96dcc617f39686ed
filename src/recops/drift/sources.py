"""Where the two windows come from: files, folders, stored profiles, SQL over the lake, Arrow.

A ``Source`` hands out whole columns as Arrow (``read(columns)``), so the local engine
reads only the columns it is working on. Parquet is read by pyarrow with string columns
kept dictionary-encoded (counted from their indices, never materialized as Python
strings); CSV and JSON Lines are read by DuckDB into Arrow; ``sql:SELECT ...`` runs in
the workspace's read-only DuckDB sandbox.
"""

from __future__ import annotations

import glob
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from recops.drift.profile import Profile, is_profile
from recops.errors import InvalidInput

if TYPE_CHECKING:
    import duckdb

SQL_PREFIX = "sql:"
PARQUET = (".parquet", ".parq", ".pq")
CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
JSONL = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")


class Source(Protocol):
    """A window of rows that hands out whole columns."""

    description: str

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def rows(self) -> int: ...

    def read(self, columns: Sequence[str]) -> pa.Table: ...


@dataclass
class ArrowSource:
    """An Arrow table already in memory."""

    table: pa.Table
    description: str = "arrow table"

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def read(self, columns: Sequence[str]) -> pa.Table:
        return self.table.select(list(columns))


class ParquetSource:
    """Parquet files read column by column with pyarrow (strings as dictionaries).

    ``pyarrow.parquet.ParquetFile`` rather than ``pyarrow.dataset``: the latter costs
    0.2 s to import, a tenth of a whole comparison at a million rows.
    """

    def __init__(self, paths: Sequence[Path], description: str) -> None:
        self.description = description
        self.paths = list(paths)
        self._files: list[Any] = []
        for path in self.paths:
            try:
                metadata = pq.read_metadata(path)  # the footer, read and parsed once
                strings = [
                    f.name
                    for f in metadata.schema.to_arrow_schema()
                    if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                ]
                self._files.append(pq.ParquetFile(path, metadata=metadata, read_dictionary=strings))
            except (OSError, pa.ArrowInvalid) as exc:
                raise InvalidInput(f"{path}: not a readable Parquet file ({exc})") from None
        self._schema: pa.Schema = self._files[0].schema_arrow
        self._opened = threading.local()
        # The files were opened with their string columns read as dictionaries: keep doing so.
        self._strings = [
            f.name
            for f in self._schema
            if pa.types.is_dictionary(f.type)
            and (pa.types.is_string(f.type.value_type) or pa.types.is_large_string(f.type.value_type))
        ]
        for path, file in zip(self.paths[1:], self._files[1:], strict=True):
            if file.schema_arrow.names != self._schema.names:
                missing = set(self._schema.names) ^ set(file.schema_arrow.names)
                raise InvalidInput(
                    f"{path}: columns differ from {self.paths[0]} ({', '.join(sorted(missing))})"
                )

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    @property
    def rows(self) -> int:
        return sum(int(f.metadata.num_rows) for f in self._files)

    def _thread_files(self) -> list[Any]:
        """The files opened for this thread.

        A ParquetFile is not safe to read from two threads at once (its read cache), and
        opening one per read cost about 7 % of reading a million-row column: each thread
        opens its own once, with the footers parsed when the source was opened.
        Pre-buffering coalesces ranges across row groups and made one-column reads 20 %
        slower. Memory-mapping the files saved a little CPU but counted every page read in
        the process's resident memory (950 MiB instead of 300 at a million rows).
        """
        files: list[Any] | None = getattr(self._opened, "files", None)
        if files is None:
            files = [
                pq.ParquetFile(path, metadata=file.metadata, read_dictionary=self._strings, pre_buffer=False)
                for path, file in zip(self.paths, self._files, strict=True)
            ]
            self._opened.files = files
        return files

    def read(self, columns: Sequence[str]) -> pa.Table:
        try:
            tables = [
                file.read(columns=list(columns), use_threads=THREADED_READS) for file in self._thread_files()
            ]
        except (OSError, pa.ArrowInvalid) as exc:
            raise InvalidInput(f"{self.description}: {exc}") from None
        if len(tables) == 1:
            return tables[0]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"{self.description}: files disagree on column types ({exc})") from None


#: Whether pyarrow decodes a read on its own thread pool. No: the local engine already reads
#: on one worker per core, and handing each read to pyarrow's pool put twice as many busy
#: threads on the cores (the stored-profile comparison took 1.3 times as long; decision 0049).
THREADED_READS = False


#: Ibis tables share backend connections, which run one query at a time (DuckDB's does
#: parallelize each query); the engine's threads take turns reading.
_IBIS_READS = threading.Lock()


class IbisSource:
    """An Ibis table on any backend; each read pushes the column selection down to it."""

    def __init__(self, table: Any, description: str = "") -> None:
        self.table = table
        self.description = description or f"ibis table ({table._find_backend().name})"
        self._rows: int | None = None

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema().to_pyarrow()

    @property
    def rows(self) -> int:
        if self._rows is None:
            self._rows = int(self.table.count().to_pyarrow().as_py())  # execute() goes through pandas
        return self._rows

    def read(self, columns: Sequence[str]) -> pa.Table:
        with _IBIS_READS:
            return self.table.select(*columns).to_pyarrow()


def open_input(spec: str, *, sql: Callable[[], duckdb.DuckDBPyConnection] | None = None) -> Source | Profile:
    """A source or a stored profile from a command-line argument.

    ``spec`` is a Parquet, CSV or JSON Lines file, a folder or glob of them, a stored
    profile (``.json``), or ``sql:SELECT ...`` (needs ``sql``, a sandboxed connection).

    Raises:
        InvalidInput: nothing readable there.
    """
    if spec.startswith(SQL_PREFIX):
        query = spec[len(SQL_PREFIX) :].strip()
        if not query:
            raise InvalidInput("sql: needs a query, e.g. 'sql:SELECT * FROM feature_rows'")
        if sql is None:
            raise InvalidInput("sql: inputs need a recops workspace (run inside one or pass --workspace)")
        return sql_source(sql(), query)
    path = Path(spec).expanduser()
    if is_profile(path):
        return Profile.load(path)
    files = _expand(spec)
    suffixes = {_kind(f) for f in files}
    if len(suffixes) > 1:
        raise InvalidInput(f"{spec}: mixes file formats ({', '.join(sorted(suffixes))}); give one format")
    kind = suffixes.pop()
    description = spec if len(files) > 1 else str(files[0])
    if kind == "parquet":
        return ParquetSource(files, description)
    return _duckdb_files(files, kind, description)


def _expand(spec: str) -> list[Path]:
    path = Path(spec).expanduser()
    if any(ch in spec for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    elif path.is_file():
        found = [path]
    else:
        raise InvalidInput(f"{spec}: no such file or folder")
    files = [p for p in found if p.is_file() and _kind(p, strict=False)]
    if not files:
        raise InvalidInput(f"{spec}: no Parquet, CSV or JSON Lines files there")
    return files


def _kind(path: Path, *, strict: bool = True) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET):
        return "parquet"
    if name.endswith(CSV):
        return "csv"
    if name.endswith(JSONL):
        return "jsonl"
    if strict:
        raise InvalidInput(f"{path}: unknown file type (expected .parquet, .csv or .jsonl)")
    return ""


def _duckdb_files(files: Sequence[Path], kind: str, description: str) -> ArrowSource:
    from recops.lake.engine import file_list_sql, new_connection

    con = new_connection()
    reader = "read_csv" if kind == "csv" else "read_json"
    options = ", union_by_name = true" + (", format = 'newline_delimited'" if kind == "jsonl" else "")
    query = f"SELECT * FROM {reader}({file_list_sql(files)}{options})"
    try:
        table = con.execute(query).to_arrow_table()
    except Exception as exc:  # duckdb raises many error classes for bad files
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(f"{description}: cannot read as {kind.upper()} ({first_line})") from None
    finally:
        con.close()
    if table.num_rows == 0:
        raise InvalidInput(f"{description}: no rows to compare")
    return ArrowSource(table, description)


def sql_source(con: duckdb.DuckDBPyConnection, query: str) -> ArrowSource:
    """The result of one read-only query, as an in-memory window.

    Raises:
        InvalidInput: the query is not a single SELECT, or fails.
    """
    import duckdb

    try:
        statements = con.extract_statements(query)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise InvalidInput("sql: inputs take exactly one SELECT statement")
        table = con.execute(query).to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL error: {exc}") from None
    return ArrowSource(table, f"sql:{query}")


def describe(value: Any) -> str:
    return str(getattr(value, "description", None) or getattr(value, "source", "") or type(value).__name__)
