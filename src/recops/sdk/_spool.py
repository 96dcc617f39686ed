"""Converted records waiting for their spool file, and the writing of those files.

Shared by the two writers of a logger: its in-process flusher thread
(``writer="thread"``) and its writer process (``recops.sdk._writer``,
``writer="process"``). Both convert queued records with ``_arrow.build_batch``,
``chunk_size`` records at a time, find the bad records of a chunk that fails one by one,
and write ``batch_size`` rows a file into the spool folder: under a hidden temporary
name first, then renamed, so a watcher (``recops ingest --watch DIR``) only ever sees
complete files named ``<prefix><seq>.parquet``.

Both work in short runs (``Pacing``): between two chunks or columns of a conversion, and
between two row groups of a file (``ROW_GROUP_ROWS`` rows each), a writer that has run
for its hold budget sleeps a little. In the host's thread that hands the GIL to the
service's threads; in the writer process it hands the CPU back: on the machines measured
(decision 0048), a thread that wakes up on a CPU busy with another process waits for the
scheduler's next tick (up to 4 ms) whatever the two priorities are, unless the busy one
blocks first. A writer that sleeps every quarter millisecond makes that wait short.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import RecordKind
from recops.sdk import _arrow

#: ``warn(key, message, *args)``: log a warning once per key.
Warn = Callable[..., None]

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
    ) -> None:
        self.kind = kind
        self.directory = directory
        self.prefix = prefix
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.pacing = pacing
        self._lock = lock
        self._warn = warn
        self._pending: list[pa.Table] = []
        self.pending_rows = 0
        self.seq = 0
        self.written = self.files = self.errors = 0

    def convert(self, queued: Sequence[_arrow.Queued]) -> None:
        """Convert queued records; the good ones wait for ``write``, the bad ones are counted."""
        if not queued:
            return
        between = None if self.pacing is None else self.pacing.pauser()
        batches: list[pa.RecordBatch] = []
        bad = 0
        for start in range(0, len(queued), self.chunk_size):
            if between is not None:
                between()
            chunk = queued[start : start + self.chunk_size]
            try:
                batches.append(_arrow.build_batch(self.kind, chunk, between))
                continue
            except Exception:  # find the bad records one by one
                pass
            for record in chunk:
                if between is not None:
                    between()
                try:
                    batches.append(_arrow.build_batch(self.kind, [record]))
                except Exception as exc:
                    bad += 1
                    message = "recops: dropped a %s that cannot be stored: %r"
                    self._warn("record", message, self.kind.record, exc)
        if batches:
            # One contiguous table per step rather than a batch per chunk: fewer Python
            # objects to keep, fewer chunks to write (the copy releases the GIL).
            self.add(pa.Table.from_batches(batches, schema=_arrow.stored_schema(self.kind)).combine_chunks())
        if bad:
            with self._lock:
                self.errors += bad

    def add(self, table: pa.Table) -> None:
        """Add rows converted elsewhere (in ``kind.schema``)."""
        if table.num_rows:
            self._pending.append(table)
            self.pending_rows += table.num_rows

    def take(self) -> pa.Table | None:
        """Remove and return the rows waiting for a file, if any."""
        if not self.pending_rows:
            return None
        table = pa.concat_tables(self._pending)
        self._pending, self.pending_rows = [], 0
        return table

    def write(self, *, everything: bool) -> None:
        """Write the converted rows, ``batch_size`` a file; keep a partial file's worth unless asked."""
        table = self.take()
        if table is None:
            return
        rows = table.num_rows
        end = rows if everything else rows - rows % self.batch_size
        for start in range(0, end, self.batch_size):
            self._write_file(table.slice(start, min(self.batch_size, end - start)))
        self.add(table.slice(end))

    def _write_file(self, table: pa.Table) -> None:
        self.seq += 1
        path = self.directory / f"{self.prefix}{self.seq:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")  # invisible to the watcher
        between = None if self.pacing is None else self.pacing.pauser()
        try:
            # Dictionary encoding would double the time to write a transient file. Writing
            # releases the GIL, but not the CPU: one row group at a time, pausing between.
            with pq.ParquetWriter(tmp, table.schema, use_dictionary=False) as writer:
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
