"""Serving-side loggers: records go to a bounded queue, a background thread writes Parquet.

The serving thread only decides sampling and appends a tuple to a list under a lock
(a few microseconds, never blocking on I/O: a full queue drops the record and counts
it). A flusher thread converts the queued records to Arrow in the stored schema of
their kind and writes one Parquet file per batch into a spool folder, under a hidden
temporary name first and then renamed, so a watcher (``recops ingest --watch DIR``)
only ever sees complete files.

The conversion runs in the host process and so competes for the GIL with the
service's own threads. It is cut into chunks of ``chunk_size`` records, each one a few
short Arrow calls, with a ``pause_s`` sleep in between that hands the GIL back: a
host thread waits at most about one chunk for the interpreter, instead of a whole
``pa.Table.from_pylist`` of a batch (tens of milliseconds). ``bench/sdk_overhead.py``
measures both the caller's cost and the effect on a service's tail latency.
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
from recops.sdk.sampling import CRC_SPACE, crc, threshold

_log = logging.getLogger("recops.sdk")

#: Records converted to Arrow per step (one batch, built column by column); the flusher
#: is also woken when this many are queued.
DEFAULT_CHUNK_SIZE = 128
#: Sleep that hands the GIL to waiting host threads...
DEFAULT_PAUSE_S = 0.0005
#: ...taken between two columns once the flusher has held the GIL this long.
HOLD_BUDGET_S = 0.0005
#: Queued records are converted at least this often (see ``_convert_queued``).
CONVERT_EVERY_S = 0.05

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
    kept by reference until the flusher converts them: do not mutate them afterwards.
    After ``os.fork()`` the child starts with an empty queue and its own flusher.

    Args:
        directory: the spool folder (created if missing); files are named
            ``<kind>-<host>-<pid>-<token>-<seq>.parquet``.
        kind: the record kind, by name (``"requests"``, ``"outcomes"``, ...) or object.
        sample_rate: share of request ids kept (see ``recops.sdk.keep``); below 1 only
            for kinds with a ``request_id``.
        max_queue: records waiting for the flusher beyond which new ones are dropped.
            The flusher may hold as many again while it converts them.
        batch_size: records per file; the flusher is woken when this many are queued.
        flush_interval_s: longest time a record waits in the queue before a flush.
        chunk_size: records converted to Arrow per step of the flusher.
        pause_s: sleep between steps, handing the GIL to the host's threads.

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
        self._names = tuple(f.name for f in self._kind.fields)
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
        self._closed = False
        self._reset()
        atexit.register(self.close)
        _LIVE.add(self)

    def _reset(self) -> None:
        """Set up the queue, counters and flusher thread (at start and in a forked child)."""
        self._lock = threading.Lock()  # guards the queue, _closed and the counters
        self._io_lock = threading.Lock()  # one writer at a time (flusher or flush())
        self._wake = threading.Event()
        self._queue: list[_arrow.Record] = []
        self._pending: list[pa.RecordBatch] = []  # converted, waiting for a file
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
        with self._lock:
            queued = len(self._queue)
            closed = self._closed
            if queued >= self._max_queue or closed:
                self._dropped += 1
                queued = -1
            else:
                self._queue.append(record)
                self._logged += 1
        if queued < 0:
            if closed:
                self._warn_once("closed", "recops: %s logged after close()", self._kind.record)
        elif queued + 1 == self._chunk_size:
            self._wake.set()

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
        if not record.keys() <= set(self._names):
            with self._lock:
                self._errors += 1
            unknown = sorted(set(record) - set(self._names))
            self._warn_once("fields", "recops: %s record with unknown fields %s", self._kind.record, unknown)
            return
        self._put(_arrow.record_tuple(self._names, record, time.time_ns()))

    # -- flusher side --------------------------------------------------------------

    def _run(self) -> None:
        next_file = time.monotonic() + self._flush_interval_s
        while True:
            self._wake.wait(max(0.0, min(CONVERT_EVERY_S, next_file - time.monotonic())))
            self._wake.clear()
            closed = self._closed
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
        """Take the queue and convert it to Arrow batches, kept until a file is written.

        Converting soon after logging (not at file time) keeps records short-lived as
        Python objects: held for seconds they would reach the collector's oldest
        generation and make its full collections, which stop every thread, frequent
        and long.
        """
        with self._lock:
            records, self._queue = self._queue, []
        if not records:
            return
        held_since = time.perf_counter()

        def pause_if_held_long() -> None:
            nonlocal held_since
            if time.perf_counter() - held_since >= HOLD_BUDGET_S:
                time.sleep(self._pause_s)
                held_since = time.perf_counter()

        bad = 0
        for start in range(0, len(records), self._chunk_size):
            pause_if_held_long()
            chunk = records[start : start + self._chunk_size]
            try:
                self._pending.append(_arrow.build_batch(self._kind, chunk, pause_if_held_long))
                self._pending_rows += len(chunk)
                continue
            except Exception:  # find the bad records one by one
                pass
            for record in chunk:
                pause_if_held_long()
                try:
                    self._pending.append(_arrow.build_batch(self._kind, [record]))
                    self._pending_rows += 1
                except Exception as exc:
                    bad += 1
                    self._warn_once(
                        "record", "recops: dropped a %s that cannot be stored: %r", self._kind.record, exc
                    )
        if bad:
            with self._lock:
                self._errors += bad

    def _write_pending(self, *, everything: bool) -> None:
        """Write the converted rows, ``batch_size`` a file; keep a partial file's worth unless asked."""
        if not self._pending_rows:
            return
        table = pa.Table.from_batches(self._pending, schema=_arrow.stored_schema(self._kind))
        rows = table.num_rows
        end = rows if everything else rows - rows % self._batch_size
        for start in range(0, end, self._batch_size):
            self._write_file(table.slice(start, min(self._batch_size, end - start)))
        rest = table.slice(end)
        self._pending = rest.to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def _write_file(self, table: pa.Table) -> None:
        self._seq += 1
        path = self._directory / f"{self._file_prefix}{self._seq:06d}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")  # invisible to the watcher
        try:
            pq.write_table(table, tmp)  # releases the GIL while it encodes
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
        self._put(
            (
                request_id,
                ts,
                surface,
                user_id,
                model,
                model_version,
                status,
                latency_ms,
                stage_latency_ms,
                context,
                features,
                feature_ts,
                candidates,
                time.time_ns(),
            )
        )


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
        self._put((request_id, item_id, ts, event, value, time.time_ns()))


# Loggers alive in this process, restarted in a forked child (whose threads are gone).
_LIVE: weakref.WeakSet[RecordLogger] = weakref.WeakSet()


def _after_fork_in_child() -> None:  # pragma: no cover - runs in forked children
    for logger in list(_LIVE):
        logger._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
