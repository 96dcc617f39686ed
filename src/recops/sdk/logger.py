"""Serving-side loggers: records go to a bounded queue, a background thread writes Parquet.

The serving thread decides sampling, flattens the record into a tuple of plain values,
pickles that into one ``bytes`` object and appends it to a list under a lock: about
10 µs for a request with 20 candidates, never blocking on I/O (a full queue drops the
record and counts it), and nothing left for the garbage collector to see (``_arrow``
says why that matters).

A flusher thread converts what is queued to Arrow in the stored schema of the kind
every ``CONVERT_EVERY_S`` while records come in, and writes ``batch_size`` converted
rows a file into the spool folder: under a hidden temporary name first, then renamed,
so a watcher (``recops ingest --watch DIR``) only ever sees complete files.

The conversion runs in the host process and so competes for the GIL with the
service's own threads. It is built column by column, ``chunk_size`` records at a time,
and sleeps ``pause_s`` (handing the GIL to waiting threads) whenever it has held the
GIL for ``HOLD_BUDGET_S``: a host thread waits about a millisecond at most, instead of
the tens of milliseconds of one ``pa.Table.from_pylist`` over a batch. Parquet
encoding releases the GIL. ``bench/sdk_overhead.py`` measures the caller's cost, these
stalls and the effect on a service's latency.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import OUTCOMES, REQUESTS, RecordKind, get_kind
from recops.sdk import _arrow
from recops.sdk._arrow import caller_time, flat_candidates, flat_map, flat_time_map
from recops.sdk.sampling import CRC_SPACE, crc, threshold

_log = logging.getLogger("recops.sdk")

#: Records unpickled and converted to Arrow at a time: few enough that their objects
#: (about ten tuples a record) stay under the collector's threshold of 700 allocations,
#: enough to amortize the per-column calls.
DEFAULT_CHUNK_SIZE = 64
#: Sleep that hands the GIL to waiting host threads...
DEFAULT_PAUSE_S = 0.0005
#: ...taken between two columns once the flusher has held the GIL this long.
HOLD_BUDGET_S = 0.0005
#: While records come in, the flusher converts them this often: steps of a few hundred
#: records at 2,000/s (smaller ones cost more per record), in little memory (a queued
#: request with 20 candidates is about 1 kB).
CONVERT_EVERY_S = 0.2
#: With nothing to convert, the flusher wakes up less and less often, down to this.
IDLE_WAIT_S = 0.5

Time = datetime | float | str


@dataclass(frozen=True)
class LoggerStats:
    """Counters of a logger since it started (a snapshot; read ``logger.stats`` again).

    Attributes:
        logged: records accepted into the queue.
        sampled_out: records left out by sampling.
        dropped: records refused because the queue was full (or the logger closed).
        written: records written to Parquet files.
        files: Parquet files written.
        errors: records that could not be converted or written (see the warning
            logged on ``recops.sdk`` the first time).
    """

    logged: int = 0
    sampled_out: int = 0
    dropped: int = 0
    written: int = 0
    files: int = 0
    errors: int = 0


class LoggerOptions(TypedDict, total=False):
    """Keyword options shared by every logger (see ``RecordLogger``)."""

    sample_rate: float
    max_queue: int
    batch_size: int
    flush_interval_s: float
    chunk_size: int
    pause_s: float


class RecordLogger:
    """Logs records of one kind into Parquet files in a spool folder, off the caller's thread.

    ``RequestLogger`` and ``OutcomeLogger`` add a typed ``log()``; this class logs any
    record kind from a mapping with ``log_record()``. A logger is thread-safe, is a
    context manager, and is closed at interpreter exit if not before. Logged values are
    copied at once (flattened and pickled), so the caller may reuse its dicts; a record
    holding a value pickle refuses (an object of a local class, say) is kept by
    reference until it is converted. A map that is not a mapping, or a candidate that
    is not one, makes the record an error at once; other bad values are found by the
    flusher. Errors never raise into the caller: they are counted in ``stats.errors``
    and the first is logged on ``recops.sdk``. After ``os.fork()`` the child starts
    with an empty queue and its own flusher.

    Args:
        directory: the spool folder (created if missing); files are named
            ``<kind>-<host>-<pid>-<token>-<seq>.parquet``.
        kind: the record kind, by name (``"requests"``, ``"outcomes"``, ...) or object.
        sample_rate: share of request ids kept (see ``recops.sdk.keep``); below 1 only
            for kinds with a ``request_id``.
        max_queue: records waiting for the flusher beyond which new ones are dropped
            (and counted); a queued request with 20 candidates takes about 1.2 kB.
            Converted records then wait for their file in Arrow form.
        batch_size: records per file; a file is written as soon as this many are
            converted.
        flush_interval_s: a file is written at least this often while there are
            records (and on ``flush()``, ``close()`` and at exit).
        chunk_size: records unpickled and converted to Arrow at a time.
        pause_s: the flusher's sleep once it has held the GIL for ``HOLD_BUDGET_S``,
            which lets the host's threads run.

    Raises:
        ValueError: for an option out of range.
        KeyError: for an unknown record kind.
        OSError: if the folder cannot be created.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        kind: str | RecordKind,
        *,
        sample_rate: float = 1.0,
        max_queue: int = 100_000,
        batch_size: int = 5_000,
        flush_interval_s: float = 5.0,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        pause_s: float = DEFAULT_PAUSE_S,
    ) -> None:
        self._kind = kind if isinstance(kind, RecordKind) else get_kind(kind)
        self._names = frozenset(f.name for f in self._kind.fields)
        self._threshold = threshold(sample_rate)
        if self._threshold < CRC_SPACE and "request_id" not in self._names:
            raise ValueError(f"{self._kind.name} have no request_id to sample by")
        for name, value in (
            ("max_queue", max_queue),
            ("batch_size", batch_size),
            ("chunk_size", chunk_size),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}")
        if not flush_interval_s > 0 or not pause_s >= 0:
            raise ValueError("flush_interval_s must be > 0 and pause_s >= 0")
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._chunk_size = chunk_size
        self._pause_s = pause_s
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        # pyarrow imports pandas (if installed) on its first conversion from Python
        # objects: a few hundred ms of CPU, better spent here at start-up than in the
        # flusher while the service serves.
        pa.array([], type=pa.string())
        self._closed = False
        self._reset()
        atexit.register(self.close)
        _LIVE.add(self)

    def _reset(self) -> None:
        """Set up the queue, counters and flusher thread (at start and in a forked child)."""
        self._lock = threading.Lock()  # guards the queue, _closed and the counters
        self._io_lock = threading.Lock()  # one writer at a time (flusher or flush())
        self._wake = threading.Event()
        self._queue: list[_arrow.Queued] = []
        self._pending: list[pa.Table] = []  # converted, waiting for a file
        self._pending_rows = 0
        self._logged = self._sampled_out = self._dropped = 0
        self._written = self._files = self._errors = 0
        self._warned: set[str] = set()
        host = re.sub(r"[^A-Za-z0-9_.]+", "_", socket.gethostname()) or "host"
        self._file_prefix = f"{self._kind.name}-{host}-{os.getpid()}-{secrets.token_hex(3)}-"
        self._seq = 0
        self._thread = threading.Thread(
            target=self._run, name=f"recops-{self._kind.name}-flusher", daemon=True
        )
        if not self._closed:
            self._thread.start()

    # -- caller side: O(1), never blocks on I/O, never raises on a full queue --------

    def _put(self, record: _arrow.Record) -> None:
        # Packed outside the lock; a full queue is checked first so that dropping is cheap.
        packed = _arrow.pack(record) if len(self._queue) < self._max_queue else record
        with self._lock:
            full = len(self._queue) >= self._max_queue
            if full or self._closed:
                self._dropped += 1
            else:
                self._queue.append(packed)
                self._logged += 1
                return
        if not full:
            self._warn_once("closed", "recops: %s logged after close()", self._kind.record)

    def _sampled_out_now(self, request_id: object) -> bool:
        """Return True (and count it) when sampling leaves this request out."""
        if crc(request_id) < self._threshold:
            return False
        with self._lock:
            self._sampled_out += 1
        return True

    def log_record(self, record: Mapping[str, Any]) -> None:
        """Queue one record given as a mapping of contract field names to values.

        A mixed map (request ``features``) is one mapping of numbers and strings; a
        missing time column means now. Unknown field names make the record an error.

        Args:
            record: the record.
        """
        if self._threshold < CRC_SPACE and self._sampled_out_now(record.get("request_id")):
            return
        if not record.keys() <= self._names:
            unknown = sorted(record.keys() - self._names)
            self._refuse(ValueError(f"unknown fields {unknown}"))
            return
        try:
            flat = _arrow.flatten(self._kind, record, time.time_ns())
        except Exception as exc:  # a map or candidate of the wrong type
            self._refuse(exc)
            return
        self._put(flat)

    def _refuse(self, exc: Exception) -> None:
        """Count a record that cannot be stored (its error is logged once)."""
        with self._lock:
            self._errors += 1
        self._warn_once("record", "recops: dropped a %s that cannot be stored: %r", self._kind.record, exc)

    # -- flusher side --------------------------------------------------------------

    def _run(self) -> None:
        next_file = time.monotonic() + self._flush_interval_s
        wait = CONVERT_EVERY_S
        while True:
            self._wake.wait(max(0.0, min(wait, next_file - time.monotonic())))
            self._wake.clear()
            closed = self._closed
            wait = CONVERT_EVERY_S if self._queue else min(2 * wait, IDLE_WAIT_S)
            try:
                with self._io_lock:
                    self._convert_queued()
                    if closed or time.monotonic() >= next_file:
                        self._write_pending(everything=True)
                        next_file = time.monotonic() + self._flush_interval_s
                    elif self._pending_rows >= self._batch_size:
                        self._write_pending(everything=False)
            except Exception as exc:  # pragma: no cover - the steps catch what they expect
                self._warn_once("flusher", "recops: flusher error: %r", exc)
            if closed:
                return

    def flush(self) -> None:
        """Convert and write every queued record now, on the calling thread."""
        with self._io_lock:
            self._convert_queued()
            self._write_pending(everything=True)

    def _convert_queued(self) -> None:
        """Take the queue and convert it to Arrow, kept in ``_pending`` until a file is written."""
        with self._lock:
            queued, self._queue = self._queue, []
        if not queued:
            return
        held_since = time.perf_counter()

        def pause_if_held_long() -> None:
            nonlocal held_since
            if time.perf_counter() - held_since >= HOLD_BUDGET_S:
                time.sleep(self._pause_s)
                held_since = time.perf_counter()

        batches: list[pa.RecordBatch] = []
        bad = 0
        for start in range(0, len(queued), self._chunk_size):
            pause_if_held_long()
            chunk = queued[start : start + self._chunk_size]
            try:
                batches.append(_arrow.build_batch(self._kind, chunk, pause_if_held_long))
                continue
            except Exception:  # find the bad records one by one
                pass
            for record in chunk:
                pause_if_held_long()
                try:
                    batches.append(_arrow.build_batch(self._kind, [record]))
                except Exception as exc:
                    bad += 1
                    self._warn_once(
                        "record", "recops: dropped a %s that cannot be stored: %r", self._kind.record, exc
                    )
        if batches:
            # One contiguous table per step rather than a batch per chunk: fewer Python
            # objects to keep, fewer chunks to write (the copy releases the GIL).
            step = pa.Table.from_batches(batches, schema=_arrow.stored_schema(self._kind)).combine_chunks()
            self._pending.append(step)
            self._pending_rows += step.num_rows
        if bad:
            with self._lock:
                self._errors += bad

    def _write_pending(self, *, everything: bool) -> None:
        """Write the converted rows, ``batch_size`` a file; keep a partial file's worth unless asked."""
        if not self._pending_rows:
            return
        table = pa.concat_tables(self._pending)
        rows = table.num_rows
        end = rows if everything else rows - rows % self._batch_size
        for start in range(0, end, self._batch_size):
            self._write_file(table.slice(start, min(self._batch_size, end - start)))
        rest = table.slice(end)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def _write_file(self, table: pa.Table) -> None:
        self._seq += 1
        path = self._directory / f"{self._file_prefix}{self._seq:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")  # invisible to the watcher
        try:
            # Dictionary encoding would double the time to write a transient file.
            pq.write_table(table, tmp, use_dictionary=False)  # releases the GIL while it encodes
            os.replace(tmp, path)
        except Exception as exc:
            self._warn_once("write", "recops: could not write %s: %r", path, exc)
            tmp.unlink(missing_ok=True)
            with self._lock:
                self._errors += table.num_rows
            return
        with self._lock:
            self._written += table.num_rows
            self._files += 1

    def _warn_once(self, what: str, message: str, *args: object) -> None:
        if what not in self._warned:
            self._warned.add(what)
            _log.warning(message + " (reported once; see the logger's stats)", *args)

    # -- lifecycle -----------------------------------------------------------------

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Flush what is queued and stop the flusher. Later records are dropped.

        Safe to call more than once; called at interpreter exit.

        Args:
            timeout_s: how long to wait for the final flush (None: as long as it takes).
        """
        with self._lock:
            self._closed = True
        self._wake.set()
        thread = self._thread
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout_s)
        if not thread.is_alive() and (self._queue or self._pending_rows):
            self.flush()  # the flusher is gone (never started, or ended): do it here
        atexit.unregister(self.close)
        if thread.is_alive():
            _log.warning("recops: %s flusher still busy after %ss", self._kind.name, timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stats(self) -> LoggerStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return LoggerStats(
                logged=self._logged,
                sampled_out=self._sampled_out,
                dropped=self._dropped,
                written=self._written,
                files=self._files,
                errors=self._errors,
            )

    @property
    def kind(self) -> RecordKind:
        """The record kind this logger writes."""
        return self._kind

    @property
    def directory(self) -> Path:
        """The spool folder."""
        return self._directory


class RequestLogger(RecordLogger):
    """Logs served recommendations (contract kind ``requests``); see ``RecordLogger``.

    Example:
        >>> import tempfile
        >>> with RequestLogger(tempfile.mkdtemp()) as logger:
        ...     logger.log(request_id="r1", surface="home_row", user_id="u1", model="ranker",
        ...                model_version="v13", status="ok", latency_ms=41.2,
        ...                candidates=[{"item_id": "i1", "source": "trending", "score": 0.9,
        ...                             "position": 0}])
        >>> logger.stats.written
        1
    """

    def __init__(self, directory: str | os.PathLike[str], **options: Unpack[LoggerOptions]) -> None:
        super().__init__(directory, REQUESTS, **options)

    def log(
        self,
        *,
        request_id: str,
        surface: str,
        user_id: str,
        model: str,
        model_version: str,
        status: str,
        latency_ms: float,
        candidates: Sequence[Mapping[str, Any]],
        ts: Time | None = None,
        stage_latency_ms: Mapping[str, float | None] | None = None,
        context: Mapping[str, str] | None = None,
        features: Mapping[str, float | str | None] | None = None,
        feature_ts: Mapping[str, Time] | None = None,
    ) -> None:
        """Queue one served request; returns at once and never raises on a full queue.

        Args:
            request_id: unique id of the served recommendation (also the sampling key).
            surface: where the slate is shown.
            user_id: pseudonymous user id.
            model: registered model name.
            model_version: version that produced the ranking.
            status: ``ok``, ``fallback`` or ``error``.
            latency_ms: end-to-end serving latency.
            candidates: everything the ranker scored, as mappings with ``item_id``,
                ``source``, ``score``, ``position`` and optionally ``propensity``.
            ts: when the response was sent: a datetime (naive is UTC), epoch
                milliseconds or an ISO string; None means now.
            stage_latency_ms: latency per serving stage.
            context: serving context (device, country, experiment, arm, ...).
            features: request-level feature values; strings are stored in
                ``feature_strings``, the rest in ``features``.
            feature_ts: per feature group, the as-of time of the values served.
        """
        if self._threshold < CRC_SPACE and self._sampled_out_now(request_id):
            return
        try:
            record = (
                request_id,
                caller_time(ts),
                surface,
                user_id,
                model,
                model_version,
                status,
                latency_ms,
                flat_map(stage_latency_ms),
                flat_map(context),
                flat_map(features),
                flat_time_map(feature_ts),
                flat_candidates(candidates),
                time.time_ns(),
            )
        except Exception as exc:  # a map or candidate of the wrong type
            self._refuse(exc)
            return
        self._put(record)


class OutcomeLogger(RecordLogger):
    """Logs what users did (contract kind ``outcomes``); see ``RecordLogger``.

    Sample with the same rate as the ``RequestLogger`` to keep exactly the outcomes of
    the kept requests.
    """

    def __init__(self, directory: str | os.PathLike[str], **options: Unpack[LoggerOptions]) -> None:
        super().__init__(directory, OUTCOMES, **options)

    def log(
        self,
        *,
        request_id: str,
        item_id: str,
        event: str,
        ts: Time | None = None,
        value: float | None = None,
    ) -> None:
        """Queue one outcome; returns at once and never raises on a full queue.

        Args:
            request_id: the request this outcome follows (also the sampling key).
            item_id: the item acted on.
            event: ``impression``, ``click``, ``play``, ... or a custom name.
            ts: when it happened (as for ``RequestLogger.log``); None means now.
            value: e.g. seconds watched.
        """
        if self._threshold < CRC_SPACE and self._sampled_out_now(request_id):
            return
        self._put((request_id, item_id, caller_time(ts), event, value, time.time_ns()))


# Loggers alive in this process, restarted in a forked child (whose threads are gone).
_LIVE: weakref.WeakSet[RecordLogger] = weakref.WeakSet()


def _after_fork_in_child() -> None:  # pragma: no cover - runs in forked children
    for logger in list(_LIVE):
        logger._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
