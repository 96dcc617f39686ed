"""Datasets described by recops itself: content digest, rows, event-time range, schema.

The content digest is over bytes, so anyone can check it with standard tools:

- one file: ``sha256:`` + the file's SHA-256 (what ``sha256sum FILE`` prints);
- a folder: ``sha256:`` + the SHA-256 of the manifest ``"<sha256>  <relative/path>\\n"``
  for every data file, sorted by relative path (byte order), i.e. what
  ``sha256sum`` prints for the sorted file list, hashed once more.

Rows, the event-time range and the schema are read with DuckDB over the same files.
Hidden files and files starting with ``_`` (``_SUCCESS``, ``_common_metadata``) are not
data and are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb

from recops.errors import InvalidInput
from recops.lake.engine import file_list_sql
from recops.lake.sqltext import quote
from recops.registry._canonical import utc
from recops.registry.entities import DatasetRef, UpstreamPartition

FORMATS: dict[str, str] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".json": "jsonl",
}
# Event-time columns looked for, in this order, when none is named.
TIME_COLUMNS = (
    "ts",
    "event_ts",
    "event_time",
    "timestamp",
    "time",
    "landed_at",
    "materialized_at",
    "created_at",
)
_CHUNK = 1 << 20


def local_path(uri: str) -> Path | None:
    """The local path a URI or plain path names, or None for remote URIs (``s3://``...)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        return None
    return Path(uri).expanduser()


def file_digest(path: Path) -> str:
    """SHA-256 hex of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _is_data(path: Path, root: Path) -> bool:
    return not any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


def tree_digest(root: Path, files: Iterable[Path]) -> str:
    """``sha256:`` digest of a folder: the SHA-256 of its sorted ``sha256sum`` manifest."""
    listed = sorted((f.relative_to(root).as_posix(), f) for f in files)
    manifest = "".join(f"{file_digest(f)}  {rel}\n" for rel, f in listed)
    return "sha256:" + hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def path_digest(path: Path) -> str:
    """``sha256:`` content digest of a file or of every file under a folder (artifacts).

    Raises:
        InvalidInput: when the path does not exist or the folder is empty.
    """
    if path.is_file():
        return "sha256:" + file_digest(path)
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        if not files:
            raise InvalidInput(f"{path} is an empty folder")
        return tree_digest(path, files)
    raise InvalidInput(f"no such file or folder: {path}")


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def data_files(path: Path) -> tuple[list[Path], str]:
    """The data files of a file or folder and their one format.

    Raises:
        InvalidInput: missing path, no data files, or mixed formats.
    """
    if path.is_file():
        fmt = _format_of(path)
        if fmt is None:
            raise InvalidInput(f"{path}: not a Parquet, CSV or JSONL file (by its extension)")
        return [path], fmt
    if not path.is_dir():
        raise InvalidInput(f"no such file or folder: {path}")
    found: dict[str, list[Path]] = {}
    for p in sorted(path.rglob("*")):
        if p.is_file() and _is_data(p, path):
            fmt = _format_of(p)
            if fmt is not None:
                found.setdefault(fmt, []).append(p)
    if not found:
        raise InvalidInput(f"{path}: no Parquet, CSV or JSONL files in the folder")
    if len(found) > 1:
        raise InvalidInput(f"{path}: mixed formats ({', '.join(sorted(found))}); a dataset has one format")
    fmt, files = next(iter(found.items()))
    return files, fmt


def _reader(fmt: str, files: Sequence[Path]) -> str:
    listing = file_list_sql(files)
    if fmt == "parquet":
        return f"read_parquet({listing}, union_by_name = true, hive_partitioning = false)"
    if fmt == "csv":
        return f"read_csv({listing}, union_by_name = true, hive_partitioning = false)"
    return f"read_json({listing}, format = 'auto', union_by_name = true, hive_partitioning = false)"


def _time_expr(column: str, sql_type: str) -> str | None:
    """SQL giving the column as a naive UTC TIMESTAMP, or None when it is not a time."""
    t = sql_type.upper()
    col = quote(column)
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"timezone('UTC', {col})"
    if t.startswith("TIMESTAMP") or t == "DATE":
        return f"CAST({col} AS TIMESTAMP)"
    if t in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT"):  # epoch milliseconds, as in the contract
        return f"make_timestamp(CAST({col} AS BIGINT) * 1000)"
    if t == "VARCHAR":
        return f"timezone('UTC', CAST({col} AS TIMESTAMPTZ))"
    return None


def _as_utc(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InvalidInput(f"event time is not a time: {value!r}")


def describe_dataset(
    uri: str | Path,
    *,
    name: str | None = None,
    role: str = "train",
    time_column: str | None = None,
    upstream: Iterable[UpstreamPartition | str] = (),
) -> DatasetRef:
    """Read a local file or folder of Parquet/CSV/JSONL and describe it.

    Args:
        uri: a path or ``file://`` URI.
        name: short name (default: the file or folder name).
        role: ``train``, ``validation``, ``test``...
        time_column: the event-time column (default: the first of :data:`TIME_COLUMNS`
            present, else the first timestamp column, else none).
        upstream: source partitions the data was built from.

    Returns:
        The dataset with ``computed=True``: digest, rows, bytes, files, time range, schema.

    Raises:
        InvalidInput: missing path, unreadable data, or a named time column that is absent.
    """
    path = local_path(str(uri))
    if path is None:
        raise InvalidInput(f"{uri} is not a local path; declare its digest instead (declared_dataset)")
    path = path.resolve()
    files, fmt = data_files(path)
    digest = "sha256:" + file_digest(files[0]) if path.is_file() else tree_digest(path, files)
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        source = _reader(fmt, files)
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        except duckdb.Error as exc:
            raise InvalidInput(f"cannot read {path} as {fmt}: {exc}") from None
        schema = tuple((str(r[0]), str(r[1])) for r in described)
        types = dict(schema)
        column = _pick_time_column(types, time_column, path)
        expr = _time_expr(column, types[column]) if column else None
        if column and expr is None:
            raise InvalidInput(f"{path}: time column {column!r} has type {types[column]}, not a time")
        select = f"SELECT count(*), min({expr}), max({expr}) FROM {source}" if expr else (
            f"SELECT count(*), NULL, NULL FROM {source}"
        )  # fmt: skip
        try:
            rows, tmin, tmax = con.execute(select).fetchall()[0]
        except duckdb.Error as exc:
            raise InvalidInput(f"cannot read {path}: {exc}") from None
    finally:
        con.close()
    return DatasetRef(
        uri=path.as_uri(),
        digest=digest,
        name=name or path.name,
        role=role,
        computed=True,
        format=fmt,
        rows=int(rows),
        bytes=sum(f.stat().st_size for f in files),
        files=len(files),
        time_column=column,
        time_min=_as_utc(tmin),
        time_max=_as_utc(tmax),
        schema=schema,
        upstream=_partitions(upstream),
    )


def _pick_time_column(types: dict[str, str], wanted: str | None, path: Path) -> str | None:
    if wanted is not None:
        if wanted not in types:
            raise InvalidInput(f"{path}: no column {wanted!r} (columns: {', '.join(types)})")
        return wanted
    timelike = [c for c, t in types.items() if t.upper().startswith(("TIMESTAMP", "DATE"))]
    for candidate in TIME_COLUMNS:
        if candidate in timelike:
            return candidate
    return timelike[0] if timelike else None


def declared_dataset(
    uri: str,
    *,
    digest: str | None = None,
    name: str | None = None,
    role: str = "train",
    rows: int | None = None,
    time_min: datetime | None = None,
    time_max: datetime | None = None,
    schema: Sequence[tuple[str, str]] = (),
    upstream: Iterable[UpstreamPartition | str] = (),
) -> DatasetRef:
    """A dataset recops cannot read (remote storage): facts as the caller declares them."""
    return DatasetRef(
        uri=uri,
        digest=digest,
        name=name or uri.rstrip("/").rsplit("/", 1)[-1],
        role=role,
        computed=False,
        rows=rows,
        time_min=utc(time_min) if time_min else None,
        time_max=utc(time_max) if time_max else None,
        schema=tuple(schema),
        upstream=_partitions(upstream),
    )


def with_upstream(dataset: DatasetRef, upstream: Iterable[UpstreamPartition | str]) -> DatasetRef:
    """The dataset with more upstream partitions (deduplicated, sorted)."""
    return replace(dataset, upstream=_partitions([*dataset.upstream, *upstream]))


def _partitions(items: Iterable[UpstreamPartition | str]) -> tuple[UpstreamPartition, ...]:
    parsed = {p if isinstance(p, UpstreamPartition) else UpstreamPartition.parse(p) for p in items}
    return tuple(sorted(parsed))
