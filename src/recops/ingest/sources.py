"""Find the files an ingest command names, and read JSON Lines into Arrow without a row loop."""

from __future__ import annotations

import glob
import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from recops.errors import InvalidInput

PARQUET = ".parquet"
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
READ_CHUNK = 64 << 20


def file_format(path: Path) -> str:
    """``parquet`` or ``jsonl`` from the file name."""
    name = path.name.lower()
    if name.endswith((PARQUET, ".pq")):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise InvalidInput(f"{path}: unknown file type; expected .parquet, .jsonl/.ndjson/.json (optionally .gz)")


def _ingestible(path: Path) -> bool:
    name = path.name
    if name.startswith((".", "_")) or name.endswith(".tmp"):
        return False
    try:
        file_format(path)
    except InvalidInput:
        return False
    return path.is_file()


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, found in folders (recursively) or matched by globs, sorted.

    Raises:
        InvalidInput: a named path matches nothing, or a named file has an unknown type.
    """
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if _ingestible(f)))
        elif p.is_file():
            file_format(p)
            found.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=True))
            files = [m for m in matches if _ingestible(m)]
            if not files:
                raise InvalidInput(f"{raw}: no such file, folder or matching files")
            found.extend(files)
    seen: set[Path] = set()
    unique: list[Path] = []
    for f in found:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


def _chunks(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            rest = b""
            while True:
                block = handle.read(READ_CHUNK)
                if not block:
                    break
                block = rest + block
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest = block
                    continue
                rest = block[cut + 1 :]
                yield block[: cut + 1]
            if rest:
                yield rest
    except (OSError, EOFError) as exc:
        raise InvalidInput(f"{path}: cannot read ({exc})") from None


def read_lines(path: Path) -> pa.Table:
    """A JSON Lines file as a table of (``_row``: 1-based line number, ``_line``: text).

    Blank lines are not records and are left out (their numbers are kept for the others).
    Bytes that are not UTF-8 are replaced, so such a line fails JSON parsing as a record
    instead of failing the file.
    """
    rows: list[pa.Array] = []
    lines: list[pa.Array] = []
    first = 1
    for chunk in _chunks(path):
        parts = chunk.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        arr = pa.array(parts, type=pa.binary())
        numbers = pa.array(range(first, first + len(parts)), type=pa.int64())
        first += len(parts)
        text = arr.cast(pa.string(), safe=False) if _valid_utf8(chunk) else _lossy(parts)
        keep = pc.invert(pc.match_substring_regex(text, r"^\s*$"))
        rows.append(numbers.filter(keep))
        lines.append(text.filter(keep))
    if not rows:
        return pa.table({"_row": pa.array([], pa.int64()), "_line": pa.array([], pa.string())})
    return pa.table({"_row": pa.concat_arrays(rows), "_line": pa.concat_arrays(lines)})


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lossy(parts: list[bytes]) -> pa.Array:
    return pa.array([p.decode("utf-8", errors="replace") for p in parts], type=pa.string())
