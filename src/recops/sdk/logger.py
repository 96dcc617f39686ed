"""Serving-side loggers: records go to a bounded queue, then to Parquet files off the request path.

The serving thread decides sampling, copies the record into one ``bytes`` object of
JSON and appends it to a list under a lock: about 6 µs for a request with 20
candidates, never blocking on I/O (a full queue drops the record and counts it), and
nothing left for the garbage collector to see (``_arrow`` says why that matters).

A flusher thread takes what is queued every ``CONVERT_EVERY_S`` while records come in.
Records are not converted on the serving host: the spool files hold the packed JSON
(one binary column), and ``recops ingest`` converts it (decision 0056), since
converting a request with 20 candidates takes about 30 µs of CPU that the service would
feel. What happens next depends on the logger's ``writer``:

- ``"process"`` (the default): the flusher ships the queued records as they are, in
  frames over a pipe, to a writer process the logger started (``_writer``), which
  writes the files, about 6 µs a request. Writing to a pipe releases the GIL, so the
  host pays little more than the caller's snapshot. The writer works in short runs with
  short sleeps between (``_writer.PACING``): a service thread that wakes up on the
  writer's CPU then gets it at once, instead of waiting for the scheduler's next tick
  (decision 0048). The writer exits when its host does (its pipe ends); if it dies,
  what it had not written is counted in ``stats.errors`` (the files it left count as
  written), it is started again once, and after a second death the logger writes
  in-process.
- ``"thread"``: the flusher writes the files in the host process (writing a file
  releases the GIL, between row groups of ``ROW_GROUP_ROWS``).

Records JSON cannot hold (the caller's own classes) are converted by the logger itself,
``chunk_size`` records at a time, pausing ``pause_s`` whenever it has held the GIL for
``HOLD_BUDGET_S``, and written in the stored form. Files appear under a hidden
temporary name first, then renamed, so a watcher (``recops ingest --watch DIR``) only
ever sees complete files. ``bench/sdk_overhead.py``
measures the caller's cost, the GIL stalls and the effect on a service's latency.
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypedDict, Unpack

import pyarrow as pa

from recops.contract import OUTCOMES, REQUESTS, RecordKind, get_kind
from recops.sdk import _arrow
from recops.sdk._arrow import Candidates, caller_time
from recops.sdk._spool import COMPRESSIONS, Compression, Pacing, Spool
from recops.sdk._spool import HOLD_BUDGET_S as HOLD_BUDGET_S
from recops.sdk._writer import FRAME_RECORDS, PACING, Settings, WriterProcess
from recops.sdk.sampling import CRC_SPACE, crc, threshold

_log = logging.getLogger("recops.sdk")

#: Records parsed and converted to Arrow at a time: few enough that their objects
#: (about ten tuples a record) stay under the collector's threshold of 700 allocations,
#: enough to amortize the per-column calls.
DEFAULT_CHUNK_SIZE = 64
#: Sleep that hands the GIL to waiting host threads while converting in-process, once
#: the flusher has held it for ``HOLD_BUDGET_S``.
DEFAULT_PAUSE_S = 0.0005
#: While records come in, the flusher takes them this often: steps of a few hundred
#: records at 2,000/s (smaller ones cost more per record), in little memory (a queued
#: request with 20 candidates is about 1 kB).
CONVERT_EVERY_S = 0.2
#: With nothing to take, the flusher wakes up less and less often, down to this.
IDLE_WAIT_S = 0.5
#: Times a writer process that died is started again before writing in-process.
WRITER_RESTARTS = 1
#: How a writer process shares the CPU (None: it runs until it blocks; see ``_spool``).
WRITER_PACING: Pacing | None = PACING

Time = datetime | float | str
Writer = Literal["process", "thread"]


@dataclass(frozen=True)
class LoggerStats:
    """Counters of a logger since it started (a snapshot; read ``logger.stats`` again).

    Attributes:
        logged: records accepted into the queue.
        sampled_out: records left out by sampling.
        dropped: records refused because the queue was full (or the logger closed).
        written: records written to Parquet files.
        files: Parquet files written.
        errors: records that could not be written (a full disk, a record JSON refused
            that cannot be converted either), or that a writer process took and died
            before writing (see the warning logged on ``recops.sdk`` the first time).
            A record with a bad value is written as packed and refused at ingest, into
            quarantine with the rule and the field.
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
    writer: Writer
    compression: Compression


class RecordLogger:
    """Logs records of one kind into Parquet files in a spool folder, off the caller's thread.

    ``RequestLogger`` and ``OutcomeLogger`` add a typed ``log()``; this class logs any
    record kind from a mapping with ``log_record()``. A logger is thread-safe, is a
    context manager, and is closed at interpreter exit if not before. Logged values are
    copied at once (as JSON; numpy values included), so the caller may reuse its dicts;
    a record holding a value JSON cannot (an object of the caller's own class, say) is
    copied and kept by reference until it is converted (in the host, even with a
    writer process). A non-finite float is logged as null, except in a time, where it is
    an error. Bad values are found when the record is converted, at ingest (they go to
    quarantine). Errors never raise into the caller: they are counted in
    ``stats.errors`` and the first is logged on ``recops.sdk``.
    After ``os.fork()`` the child starts with an empty queue, its own flusher and its
    own writer process.

    Args:
        directory: the spool folder (created if missing); files are named
            ``<kind>-<host>-<pid>-<token>-<seq>.parquet`` (the host's pid).
        kind: the record kind, by name (``"requests"``, ``"outcomes"``, ...) or object.
        sample_rate: share of request ids kept (see ``recops.sdk.keep``); below 1 only
            for kinds with a ``request_id``.
        max_queue: records waiting for the flusher beyond which new ones are dropped
            (and counted); a queued request with 20 candidates takes about 1.2 kB.
            Converted records then wait for their file in Arrow form (in the writer).
        batch_size: records per file; a file is written as soon as this many are
            converted.
        flush_interval_s: a file is written at least this often while there are
            records (and on ``flush()``, ``close()`` and at exit).
        chunk_size: records parsed and converted to Arrow at a time.
        pause_s: with ``writer="thread"``, the flusher's sleep once it has held the
            GIL for ``HOLD_BUDGET_S``, which lets the host's threads run.
        writer: ``"process"`` converts and writes in a writer process (started with
            ``sys.executable``), ``"thread"`` in the host's flusher thread.
        compression: ``"none"`` (the default) or ``"zstd"``: how spool files of packed
            records are compressed. zstd makes them five times smaller for four to five
            times the writer's CPU (9 to 15 µs a 3 kB request, against 2 to 3): worth it
            when the spool waits long for ``recops ingest`` on a small disk.

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
        writer: Writer = "process",
        compression: Compression = "none",
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
        if writer not in ("process", "thread"):
            raise ValueError(f"writer must be 'process' or 'thread', got {writer!r}")
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        self._compression: Compression = compression
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._chunk_size = chunk_size
        self._pause_s = pause_s
        self._writer = writer
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        if writer == "thread":
            # pyarrow imports pandas (if installed) on its first conversion from Python
            # objects: a few hundred ms of CPU, better spent here at start-up than in the
            # flusher while the service serves (the writer process does it itself).
            pa.array([], type=pa.string())
        self._closed = False
        self._reset()
        atexit.register(self.close)
        _LIVE.add(self)

    def _reset(self) -> None:
        """Set up the queue, counters and flusher thread (at start and in a forked child)."""
        first = not hasattr(self, "_thread")  # else in a forked child
        inherited: WriterProcess | None = getattr(self, "_child", None)
        if inherited is not None:  # a forked child: the writer is its parent's
            inherited.forget()
        self._lock = threading.Lock()  # guards the queue, _closed, _child and the counters
        self._io_lock = threading.Lock()  # one thread at a time takes the queue and writes
        self._wake = threading.Event()
        self._queue: list[_arrow.Queued] = []
        self._logged = self._sampled_out = self._dropped = 0
        # errors of records refused at once, and what writer processes that died did
        self._written = self._files = self._errors = 0
        self._warned: set[str] = set()
        host = re.sub(r"[^A-Za-z0-9_.]+", "_", socket.gethostname()) or "host"
        self._host_prefix = f"{self._kind.name}-{host}-{os.getpid()}-"
        # The in-process writer: all records with writer="thread" (or after the writer
        # process failed), else the few that JSON refused, on their way to the writer.
        self._spool = Spool(
            self._kind,
            self._directory,
            self._new_prefix(),
            batch_size=self._batch_size,
            chunk_size=self._chunk_size,
            lock=self._lock,
            warn=self._warn_once,
            pacing=Pacing(HOLD_BUDGET_S, self._pause_s),
            compression=self._compression,
        )
        self._child: WriterProcess | None = None
        self._restarts = 0
        # In a forked child, the flusher starts the writer (not in an at-fork handler).
        self._start_in_flusher = not first and self._writer == "process"
        if first and self._writer == "process":
            self._start_writer()
        self._thread = threading.Thread(
            target=self._run, name=f"recops-{self._kind.name}-flusher", daemon=True
        )
        if not self._closed:
            self._thread.start()

    def _new_prefix(self) -> str:
        return f"{self._host_prefix}{secrets.token_hex(3)}-"

    # -- caller side: O(1), never blocks on I/O, never raises on a full queue --------

    def _put(self, raw: _arrow.Record) -> None:
        # Packed outside the lock; a full queue is checked first so that dropping is cheap.
        packed: _arrow.Queued = raw
        if len(self._queue) < self._max_queue:
            try:
                packed = _arrow.pack(self._kind, raw)
            except Exception as exc:  # neither JSON nor copying takes it
                self._refuse(exc)
                return
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
        self._put(_arrow.raw(self._kind, record, time.time_ns()))

    def _refuse(self, exc: Exception) -> None:
        """Count a record that cannot be stored (its error is logged once)."""
        with self._lock:
            self._errors += 1
        self._warn_once("record", "recops: dropped a %s that cannot be stored: %r", self._kind.record, exc)

    # -- flusher side --------------------------------------------------------------

    def _run(self) -> None:
        if self._start_in_flusher:
            with self._io_lock:
                self._start_writer()
        next_file = time.monotonic() + self._flush_interval_s
        wait = CONVERT_EVERY_S
        while True:
            self._wake.wait(max(0.0, min(wait, next_file - time.monotonic())))
            self._wake.clear()
            closed = self._closed
            wait = CONVERT_EVERY_S if self._queue else min(2 * wait, IDLE_WAIT_S)
            try:
                with self._io_lock:
                    self._check_writer()
                    self._take_queued()
                    in_process = self._child is None  # else the writer process keeps time
                    if closed:
                        self._finish()
                    elif time.monotonic() >= next_file:
                        if in_process:
                            self._spool.write(everything=True)
                        next_file = time.monotonic() + self._flush_interval_s
                    elif in_process and self._spool.pending_rows >= self._batch_size:
                        self._spool.write(everything=False)
            except Exception as exc:  # pragma: no cover - the steps catch what they expect
                self._warn_once("flusher", "recops: flusher error: %r", exc)
            if closed:
                return

    def flush(self, timeout_s: float | None = 30.0) -> None:
        """Write every queued record now (in-process: on the calling thread).

        With a writer process, waits until it has written them (or ``timeout_s``).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._io_lock:
            self._check_writer()
            self._take_queued()
            token = 0
            while (child := self._child) is not None:
                try:
                    token = child.request_flush()
                    break
                except OSError:
                    self._writer_died()
            if child is None:
                self._spool.write(everything=True)
                return
        child.wait_for(lambda: child.flushed >= token, deadline)
        with self._io_lock:
            self._check_writer()

    def _take_queued(self) -> None:
        """Take the queue: ship it to the writer process, or convert it here (``_io_lock`` held)."""
        with self._lock:
            queued, self._queue = self._queue, []
        if not queued:
            return
        if self._child is None:
            self._spool.accept(queued)
            return
        # Frames in the order logged: runs of packed records, and the rare records JSON
        # refused, converted here and shipped in Arrow form.
        frames: list[list[bytes] | pa.Table] = []
        if all(type(q) is bytes for q in queued):
            packed: list[bytes] = queued  # type: ignore[assignment]
            frames.extend(packed[i : i + FRAME_RECORDS] for i in range(0, len(packed), FRAME_RECORDS))
        else:
            for is_packed, run in groupby(queued, key=lambda q: type(q) is bytes):
                if is_packed:
                    frames.append([q for q in run if isinstance(q, bytes)])
                else:
                    self._spool.convert([q for q in run if not isinstance(q, bytes)])
                    if (table := self._spool.take()) is not None:
                        frames.append(table)
        sent = 0
        while (child := self._child) is not None:
            try:
                while sent < len(frames):
                    frame = frames[sent]
                    sent += 1  # a frame the writer dies on is lost (and counted)
                    if isinstance(frame, list):
                        child.send_records(frame)
                    else:
                        child.send_table(frame)
                return
            except OSError:
                self._writer_died()
        for frame in frames[sent:]:  # writing in this process from now on
            if isinstance(frame, list):
                self._spool.add_packed(frame)
            else:
                self._spool.add(frame)

    def _finish(self) -> None:
        """Tell the writer process to finish, or write what is converted (``_io_lock`` held)."""
        if self._child is not None:
            self._child.finish()
        else:
            self._spool.write(everything=True)

    # -- the writer process (``_io_lock`` held) ----------------------------------------

    def _start_writer(self) -> None:
        settings = Settings(
            self._kind,
            str(self._directory),
            self._new_prefix(),
            self._batch_size,
            self._chunk_size,
            self._flush_interval_s,
            WRITER_PACING,
            self._compression,
        )
        try:
            child = WriterProcess(settings, self._warn_once)
        except Exception as exc:
            message = "recops: could not start a writer process (%r); writing in-process"
            self._warn_once("writer", message, exc)
            return
        with self._lock:
            self._child = child

    def _check_writer(self) -> None:
        """Read the writer's reports; handle its death."""
        child = self._child
        if child is not None:
            child.poll()
            if child.gone and not child.done:
                self._writer_died()

    def _writer_died(self) -> None:
        """Count what the writer process had not written, then restart it once or write in-process."""
        child = self._child
        assert child is not None
        child.poll()
        code = child.close(timeout_s=1.0)
        child.settle()
        with self._lock:
            written, files, errors = child.counts
            lost = child.lost
            self._written += written
            self._files += files
            self._errors += errors + lost
            self._child = None
        restart = self._restarts < WRITER_RESTARTS and not self._closed
        self._warn_once(
            "writer" if restart else "writer-fallback",
            "recops: the %s writer process %s exited (code %s); %s records it had not written"
            " are counted as errors; %s",
            self._kind.name,
            child.pid,
            code,
            lost,
            "starting another" if restart else "writing in this process from now on",
        )
        if restart:
            self._restarts += 1
            self._start_writer()

    def _warn_once(self, what: str, message: str, *args: object) -> None:
        if what not in self._warned:
            self._warned.add(what)
            _log.warning(message + " (reported once; see the logger's stats)", *args)

    # -- lifecycle -----------------------------------------------------------------

    def close(self, timeout_s: float | None = 30.0) -> None:
        """Flush what is queued and stop the flusher (and the writer process). Later records are dropped.

        Safe to call more than once; called at interpreter exit. Never raises.

        Args:
            timeout_s: how long to wait for the final flush (None: as long as it takes).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            self._closed = True
        self._wake.set()
        thread = self._thread
        try:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout_s)
            if not thread.is_alive():
                with self._io_lock:  # the flusher is gone (never started, or ended): finish here
                    self._check_writer()
                    self._take_queued()
                    self._finish()
            if (child := self._child) is not None:
                self._wait_for_writer(child, deadline)
        except Exception as exc:  # pragma: no cover - never raise into the host
            self._warn_once("close", "recops: error while closing the %s logger: %r", self._kind.name, exc)
        atexit.unregister(self.close)
        child = self._child
        if thread.is_alive() or (child is not None and not child.done):
            _log.warning("recops: %s logger still busy after %ss", self._kind.name, timeout_s)

    def _wait_for_writer(self, child: WriterProcess, deadline: float | None) -> None:
        """Wait for the writer process to write everything and exit (after ``_finish``)."""
        if child.wait_for(lambda: child.done, deadline):
            child.close(None if deadline is None else max(0.0, deadline - time.monotonic()))
        elif child.gone:  # it died while finishing: write what is left here
            with self._io_lock:
                self._writer_died()
                self._take_queued()
                self._finish()

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
        child = self._child
        if child is not None:
            child.poll()  # the writer's latest reports
        with self._lock:
            spool = self._spool
            child = self._child
            written, files, errors = child.counts if child is not None else (0, 0, 0)
            return LoggerStats(
                logged=self._logged,
                sampled_out=self._sampled_out,
                dropped=self._dropped,
                written=self._written + spool.written + written,
                files=self._files + spool.files + files,
                errors=self._errors + spool.errors + errors,
            )

    @property
    def kind(self) -> RecordKind:
        """The record kind this logger writes."""
        return self._kind

    @property
    def directory(self) -> Path:
        """The spool folder."""
        return self._directory

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None when writing in this process)."""
        child = self._child
        return None if child is None else child.pid


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
        candidates: Candidates,
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
                ``source``, ``score``, ``position`` and optionally ``propensity``; or
                as one mapping of those names to columns of equal length (lists or
                numpy arrays, the cheapest form for a service holding them already).
                ``item_id`` and ``source`` are required (ingest quarantines a request
                with a candidate missing either).
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
                caller_time(ts),
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
        self._put((request_id, item_id, caller_time(ts), event, value, time.time_ns()))


# Loggers alive in this process, restarted in a forked child (whose threads are gone).
_LIVE: weakref.WeakSet[RecordLogger] = weakref.WeakSet()


def _after_fork_in_child() -> None:  # pragma: no cover - runs in forked children
    for logger in list(_LIVE):
        logger._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
