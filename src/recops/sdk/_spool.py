"""Records waiting for their spool file, and the writing of those files.

Shared by the two writers of a logger: its in-process flusher thread
(``writer="thread"``) and its writer process (``recops.sdk._writer``,
``writer="process"``). Both keep packed records (JSON ``bytes``) as they are and write
them ``batch_size`` a file in the packed form (``recops.contract.packed``: one binary
column, uncompressed unless asked), which ``recops ingest`` converts: converting costs tens of
microseconds a record, which the serving host need not pay (decision 0056). The rare
records JSON refused are converted here (``build_batch``, ``chunk_size`` at a time,
finding the bad records of a chunk that fails one by one) and written in the stored
form. Files are written under a hidden temporary name first, then renamed, so a
watcher (``recops ingest --watch DIR``) only ever sees complete files named
``<prefix><seq>.parquet``.

Both work in short runs (``Pacing``): between two chunks or columns of a conversion, and
between two row groups of a file (``ROW_GROUP_ROWS`` rows each), a writer that has run
for its hold budget sleeps a little. In the host's thread that hands the GIL to the
service's threads; in the writer process it hands the CPU back: on the machines measured
(decision 0048), a thread that wakes up on a CPU busy with another process waits for the
scheduler's next tick (up to 4 ms) whatever the two priorities are, unless the busy one
blocks first. A writer that sleeps every quarter millisecond makes that wait short.
"""

from __future__ import annotations

import glob
import os
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Literal, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import RecordKind
from recops.contract.packed import Queued, Record, convert_chunks, packed_kind, packed_schema, stored_schema

#: ``warn(key, message, *args)``: log a warning once per key.
Warn = Callable[..., None]
#: How a spool file of packed records is compressed. "none" costs the writer 2 to 3 µs a
#: request with 20 candidates (3 kB of JSON) on the 2-vCPU Intel VM of 2026-11-27, "zstd"
#: (at level 1) 9 to 15 µs, for files a fifth of the size (decision 0059; the bench's part 1b).
Compression = Literal["none", "zstd"]
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)

#: Once the in-process writer has held the GIL this long while converting...
HOLD_BUDGET_S = 0.0005
#: Rows a row group of a spool file: written one at a time, about 1.5 ms of CPU each for
#: requests with 20 candidates (a whole 5,000-row file at once is about 28 ms).
ROW_GROUP_ROWS = 256


@dataclass(frozen=True)
class Pacing:
    """How a writer shares the host: once it has run ``hold_s``, it sleeps ``pause_s``."""

    hold_s: float
    pause_s: float

    def pauser(self) -> Callable[[], None]:
        """Return a function to call between two steps of work; it sleeps when the run is long enough."""
        hold_s, pause_s = self.hold_s, self.pause_s
        held_since = time.perf_counter()

        def pause_if_held_long() -> None:
            nonlocal held_since
            if time.perf_counter() - held_since >= hold_s:
                time.sleep(pause_s)
                held_since = time.perf_counter()

        return pause_if_held_long


class Spool:
    """Rows converted to Arrow waiting for their file, and the counts of what was written.

    Args:
        kind: the record kind.
        directory: the spool folder.
        prefix: the start of every file name (``<kind>-<host>-<pid>-<token>-``).
        batch_size: rows a file.
        chunk_size: records converted at a time.
        lock: guards the counters (the logger's lock, so that its stats are consistent).
        warn: logs a warning once per key.
        pacing: when not None, converting and writing pause as it says (handing the GIL
            to the host's threads, or the CPU to other processes).
        compression: how files of packed records are compressed (``COMPRESSIONS``).
    """

    def __init__(
        self,
        kind: RecordKind,
        directory: Path,
        prefix: str,
        *,
        batch_size: int,
        chunk_size: int,
        lock: threading.Lock,
        warn: Warn,
        pacing: Pacing | None = None,
        compression: Compression = "none",
    ) -> None:
        self.kind = kind
        self.packed_options = packed_options(compression)
        self.directory = directory
        self.prefix = prefix
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.pacing = pacing
        self._lock = lock
        self._warn = warn
        self._packed: list[pa.Array] = []  # packed records, as large_binary arrays
        self._pending: list[pa.Table] = []
        self.pending_rows = 0
        self.seq = 0
        self.written = self.files = self.errors = 0

    def accept(self, queued: Sequence[Queued]) -> None:
        """Take queued records: packed ones as they are, copies converted (``convert``)."""
        self.add_packed([q for q in queued if isinstance(q, bytes)])
        self.convert([q for q in queued if not isinstance(q, bytes)])

    def add_packed(self, records: Sequence[bytes]) -> None:
        """Keep packed records for a packed file, ``ROW_GROUP_ROWS`` at a time (each a copy
        under the GIL of a few hundred kB, pausing between them as the pacing says)."""
        between = None if self.pacing is None else self.pacing.pauser()
        for start in range(0, len(records), ROW_GROUP_ROWS):
            if between is not None and start:
                between()
            run = records[start : start + ROW_GROUP_ROWS]
            self.add_packed_run(array("I", map(len, run)), b"".join(run))

    def add_packed_run(self, lengths: Sequence[int], data: bytes) -> None:
        """Keep packed records given as their lengths and their bytes end to end (no per-record call).

        Raises:
            ValueError: when the lengths do not add up to the data.
        """
        offsets = array("q", [0])
        offsets.extend(accumulate(lengths))
        if offsets[-1] != len(data):
            raise ValueError(f"{len(lengths)} packed records of {offsets[-1]} bytes, given {len(data)}")
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        self._packed.append(pa.Array.from_buffers(pa.large_binary(), len(lengths), buffers))
        self.pending_rows += len(lengths)

    def convert(self, copies: Sequence[Record]) -> None:
        """Convert records JSON refused; the good ones wait for ``write``, the bad ones are counted."""
        if not copies:
            return
        between = None if self.pacing is None else self.pacing.pauser()
        batches: list[pa.RecordBatch] = []
        bad = 0
        for _, converted in convert_chunks(self.kind, copies, self.chunk_size, between=between):
            if isinstance(converted, Exception):
                bad += 1
                message = "recops: dropped a %s that cannot be stored: %r"
                self._warn("record", message, self.kind.record, converted)
            else:
                batches.append(converted)
        if batches:
            self.add(pa.Table.from_batches(batches, schema=stored_schema(self.kind)).combine_chunks())
        if bad:
            with self._lock:
                self.errors += bad

    def add(self, table: pa.Table) -> None:
        """Add rows converted elsewhere (in ``kind.schema``)."""
        if table.num_rows:
            self._pending.append(table)
            self.pending_rows += table.num_rows

    def take(self) -> pa.Table | None:
        """Remove and return the converted rows waiting for a file, if any."""
        if not self._pending:
            return None
        table = pa.concat_tables(self._pending)
        self._pending = []
        self.pending_rows -= table.num_rows
        return table

    def write(self, *, everything: bool) -> None:
        """Write ``batch_size`` records a file; keep a partial file of packed records unless asked.

        Converted rows (rare) are always written: they never wait for more.
        """
        table = self.take()
        if table is not None:
            for start in range(0, table.num_rows, self.batch_size):
                self._write_file(table.slice(start, self.batch_size))
        if not self._packed:
            return
        packed = pa.chunked_array(self._packed, type=pa.large_binary())
        n = len(packed)
        end = n if everything else n - n % self.batch_size
        for start in range(0, end, self.batch_size):
            records = packed.slice(start, min(self.batch_size, end - start))
            self._write_file(pa.Table.from_arrays([records], schema=packed_schema(self.kind)))
        self._packed = [packed.slice(end).combine_chunks()] if end < n else []
        self.pending_rows = n - end

    def _write_file(self, table: pa.Table) -> None:
        self.seq += 1
        path = self.directory / f"{self.prefix}{self.seq:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")  # invisible to the watcher
        between = None if self.pacing is None else self.pacing.pauser()
        try:
            # Dictionary encoding would double the time to write a transient file. Writing
            # releases the GIL, but not the CPU: one row group at a time, pausing between.
            options = self.packed_options if packed_kind(table.schema) is not None else {}
            with pq.ParquetWriter(tmp, table.schema, use_dictionary=False, **options) as writer:
                for start in range(0, table.num_rows, ROW_GROUP_ROWS):
                    if between is not None and start:
                        between()
                    writer.write_table(table.slice(start, ROW_GROUP_ROWS))
            os.replace(tmp, path)
        except Exception as exc:
            self._warn("write", "recops: could not write %s: %r", path, exc)
            tmp.unlink(missing_ok=True)
            with self._lock:
                self.errors += table.num_rows
            return
        with self._lock:
            self.written += table.num_rows
            self.files += 1


def spooled(directory: Path, prefix: str) -> tuple[int, int]:
    """Records and files in the spool under ``prefix`` (complete files only: temporaries are hidden)."""
    paths = list(directory.glob(f"{glob.escape(prefix)}*.parquet"))
    rows = 0
    for path in paths:
        try:
            rows += pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowException):  # ingested and removed meanwhile
            continue
    return rows, len(paths)


def packed_options(compression: Compression) -> dict[str, object]:
    """How packed files are written: no statistics (of JSON text), compressed as asked."""
    options: dict[str, object] = {"compression": compression, "write_statistics": False}
    if compression == "zstd":
        options["compression_level"] = 1  # its fastest positive level
    return options
