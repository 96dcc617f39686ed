"""The writer process of a logger (``writer="process"``): both ends of its pipes.

The host's flusher thread ships the records the callers queued, already packed as JSON,
in frames over a pipe (``os.writev``, which releases the GIL); this process writes them into
packed Parquet files (``_spool.Spool``, the code the in-process writer runs; ``recops
ingest`` converts them, decision 0056), so the host pays little more than the caller's
snapshot.

Frames, both ways: a type byte and a payload length (``HEADER``), then the payload.

Host to writer (the writer's stdin):
    ``H`` the pickled settings (``Settings``), first and once.
    ``R`` records: their count and lengths (``uint32`` each), then the packed records.
    ``A`` records the host converted itself (those JSON refused): an Arrow IPC stream.
    ``F`` write every row now, then report (payload: the flush token, ``uint64``).
    ``C`` write every row, report a last time and exit. End of file does the same,
          so the writer finishes its work and exits when its host dies.

Writer to host (a pipe that was the writer's stdout, which it points to stderr):
    ``S`` counts: rows written, files, records in error, last flush token, done flag.
    ``W`` a warning to log in the host, once per key: ``key\\0message``.

The writer ignores SIGINT (a Ctrl-C in the terminal reaches the whole process group;
the host's exit closes its stdin) and, once started, runs every thread under
``SCHED_IDLE``: its work waits for idle CPU (see :func:`recops.priority.lower_priority`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from recops.contract import RecordKind
from recops.priority import lower_priority
from recops.sdk._spool import Compression, Pacing, Spool, spooled

HEADER = struct.Struct("<cQ")
COUNT = struct.Struct("<I")
TOKEN = struct.Struct("<Q")
STATS = struct.Struct("<QQQQB")
#: Records a frame at most (a request with 20 candidates is about 1.4 kB packed).
FRAME_RECORDS = 1024
#: The pipes' size asked for (Linux): fewer round trips between host and writer.
PIPE_SIZE = 1 << 20
#: The most the writer reads from its pipe in one call. Copying out of a pipe is one
#: stretch in the kernel that nothing preempts on kernels built without preemption
#: (``PREEMPT_NONE``, the default of many servers): a read of 1 MiB took up to 0.6 ms, and a
#: service thread waking on the writer's CPU waited that long whatever the writer's priority.
READ_SIZE = 64 << 10
#: The most either side copies into a pipe in one call, for the same reason.
PIPE_PIECE = READ_SIZE
#: Buffers one ``os.writev`` takes at most (``IOV_MAX`` is 1,024 on Linux).
WRITEV_PARTS = 512
#: How much the writer lowers its priority (``os.nice``).
NICENESS = 10
#: The writer converts and writes in runs of a quarter of a millisecond, each followed by
#: a sleep of 50 µs: a service thread that wakes up on the writer's CPU waits about that
#: long, not until the scheduler's next tick (see ``_spool``; decision 0048). Paced, a
#: writer still turned a backlog of requests with 20 candidates into files at about
#: 21,000 a second (31,000 unpaced) on a busy 2-CPU machine.
PACING = Pacing(hold_s=0.00025, pause_s=0.00005)

# Started with ``-c`` rather than ``-m`` so that the writer imports recops from where
# its host did (the host's ``sys.path``), as multiprocessing's spawn does.
_BOOTSTRAP = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "import json, sys; sys.path[:] = json.loads(sys.argv[1])\n"
    "from recops.sdk._writer import main; main()\n"
)


@dataclass(frozen=True)
class Settings:
    """What the writer needs to know, sent as the first frame."""

    kind: RecordKind
    directory: str
    prefix: str
    batch_size: int
    chunk_size: int
    flush_interval_s: float
    pacing: Pacing | None
    compression: Compression


def _set_pipe_size(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _write_parts(fd: int, parts: Sequence[bytes]) -> None:
    """Write ``parts`` one after another with ``os.writev``, at most ``PIPE_PIECE`` bytes a call.

    Each call is a short stretch in the kernel (see ``READ_SIZE``); the kernel gathers the
    parts itself, so nothing here copies them into one buffer. Only a part too large for one
    call is cut (into memory views): the garbage collector counts every view made, and a
    view per record made it run a few times a second in a busy host.
    """
    pieces: list[bytes | memoryview] = []
    for part in parts:
        if len(part) <= PIPE_PIECE:
            pieces.append(part)
        else:
            view = memoryview(part)
            pieces.extend(view[start : start + PIPE_PIECE] for start in range(0, len(part), PIPE_PIECE))
    group: list[bytes | memoryview] = []
    size = 0
    for piece in pieces:
        if group and (size + len(piece) > PIPE_PIECE or len(group) == WRITEV_PARTS):
            _writev_all(fd, group, size)
            group, size = [], 0
        group.append(piece)
        size += len(piece)
    if group:
        _writev_all(fd, group, size)


def _writev_all(fd: int, group: list[bytes | memoryview], size: int) -> None:
    """Write ``group`` (``size`` bytes) with one ``os.writev``; a partial write (a signal) is
    finished one piece at a time."""
    written = os.writev(fd, group)
    if written < size:
        rest = memoryview(b"".join(group))[written:]
        while rest:
            rest = rest[os.write(fd, rest[:PIPE_PIECE]) :]


# ----------------------------------------------------------------- the host's side


class WriterProcess:
    """The host's handle on one writer process.

    Thread-safe: frames are sent by one thread at a time (the caller holds the logger's
    I/O lock); reading the status is guarded here.

    Args:
        settings: the writer's settings.
        warn: logs a warning once per key (the writer's warnings are logged in the host).

    Raises:
        OSError: if the process cannot be started.
    """

    def __init__(self, settings: Settings, warn: Callable[..., None]) -> None:
        self._warn = warn
        self._lock = threading.Lock()
        data_r, data_w = os.pipe()
        status_r, status_w = os.pipe()
        _set_pipe_size(data_w)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, json.dumps([p for p in sys.path if isinstance(p, str)])],
                stdin=data_r,
                stdout=status_w,
                close_fds=True,
            )
        except BaseException:
            for fd in (data_w, status_r):
                os.close(fd)
            raise
        finally:
            os.close(data_r)
            os.close(status_w)
        os.set_blocking(status_r, False)
        self._data: int | None = data_w
        self._status: int | None = status_r
        self._buffer = bytearray()
        self.sent = 0  # records sent
        #: rows written, files written and records in error, as the writer reported last
        self.counts = (0, 0, 0)
        self.flushed = 0  # the last flush token the writer acted on
        self._token = 0
        self.done = False  # the writer reported its last counts (after ``C``)
        self.gone = False  # its status pipe ended: it exited (done or not)
        self.settings = settings
        self.send(b"H", pickle.dumps(settings, pickle.HIGHEST_PROTOCOL))

    @property
    def pid(self) -> int:
        """The writer's process id."""
        return self.process.pid

    # -- sending (one thread at a time) -----------------------------------------------

    def send(self, kind: bytes, *payload: bytes, records: int = 0) -> None:
        """Send one frame whose payload is ``payload``'s parts end to end; ``records`` count as sent.

        Raises:
            OSError: when the writer is gone (``BrokenPipeError``) or its pipe is closed.
        """
        if self._data is None:
            raise BrokenPipeError("the writer's pipe is closed")
        self.sent += records
        _write_parts(self._data, [HEADER.pack(kind, sum(map(len, payload))), *payload])

    def send_records(self, packed: Sequence[bytes]) -> None:
        """Send packed records, ``FRAME_RECORDS`` a frame, each record a part of its frame.

        Raises:
            OSError: when the writer is gone.
        """
        for start in range(0, len(packed), FRAME_RECORDS):
            chunk = packed[start : start + FRAME_RECORDS]
            lengths = array("I", map(len, chunk)).tobytes()
            self.send(b"R", COUNT.pack(len(chunk)) + lengths, *chunk, records=len(chunk))

    def send_table(self, table: pa.Table) -> None:
        """Send rows converted in the host.

        Raises:
            OSError: when the writer is gone.
        """
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as stream:
            stream.write_table(table)
        self.send(b"A", sink.getvalue().to_pybytes(), records=table.num_rows)

    def request_flush(self) -> int:
        """Ask for every row to be written now; return the token its report will carry.

        Raises:
            OSError: when the writer is gone.
        """
        self._token += 1
        self.send(b"F", TOKEN.pack(self._token))
        return self._token

    def finish(self) -> None:
        """Ask the writer to write everything and exit; nothing can be sent after this."""
        if self._data is None:
            return
        with contextlib.suppress(OSError):
            self.send(b"C")
        os.close(self._data)
        self._data = None

    # -- reading the status (any thread) ----------------------------------------------

    def poll(self, timeout_s: float = 0.0) -> None:
        """Read the writer's reports (waiting up to ``timeout_s`` for one) and log its warnings.

        Without a timeout, returns at once if another thread is reading them.
        """
        warnings: list[tuple[str, str]] = []
        if not self._lock.acquire(blocking=timeout_s > 0):
            return
        try:
            fd = self._status
            if fd is None:
                return
            if timeout_s > 0:
                select.select([fd], [], [], timeout_s)
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    chunk = b""
                if not chunk:
                    self.gone = True
                    os.close(fd)
                    self._status = None
                    break
                self._buffer += chunk
            warnings = self._parse()
        finally:
            self._lock.release()
        for key, message in warnings:
            self._warn(key, "%s", message)

    def _parse(self) -> list[tuple[str, str]]:
        warnings = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= HEADER.size:
            kind, length = HEADER.unpack_from(buffer, offset)
            end = offset + HEADER.size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[offset + HEADER.size : end])
            offset = end
            if kind == b"S":
                written, files, errors, self.flushed, done = STATS.unpack(payload)
                self.counts = (written, files, errors)
                self.done = self.done or bool(done)
            elif kind == b"W":
                key, _, message = payload.decode("utf-8", "replace").partition("\0")
                warnings.append((key, message))
        del buffer[:offset]
        return warnings

    def wait_for(self, condition: Callable[[], bool], deadline: float | None) -> bool:
        """Read reports until ``condition()`` holds, the writer is gone or the deadline passes."""
        while not condition():
            if self.gone:
                return False
            remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if remaining <= 0:
                return False
            self.poll(remaining)
        return True

    def settle(self) -> None:
        """Once the writer is gone: count the files it left that it did not live to report.

        Files appear whole (renamed when written), so the spool holds the truth; a watcher
        may have ingested some already, hence the larger of the two counts.
        """
        written, files, errors = self.counts
        on_disk, on_disk_files = spooled(Path(self.settings.directory), self.settings.prefix)
        if on_disk > written:
            self.counts = (on_disk, max(files, on_disk_files), errors)

    @property
    def lost(self) -> int:
        """Records sent that the writer neither wrote nor counted as errors."""
        written, _, errors = self.counts
        return max(0, self.sent - written - errors)

    def close(self, timeout_s: float | None = None) -> int | None:
        """Close the pipes and reap the process; return its exit code (None if still running)."""
        self.finish()
        with self._lock:
            if self._status is not None:
                os.close(self._status)
                self._status = None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def forget(self) -> None:
        """In a forked child: drop the parent's writer without touching it."""
        for fd in (self._data, self._status):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._data = self._status = None
        self.gone = True
        self.process.returncode = 0  # not this process's child: never wait for it


# ----------------------------------------------------------------- the writer's side


class _Writer:
    def __init__(self, status: int) -> None:
        self.status = status
        self.spool: Spool | None = None
        self.warned: set[str] = set()
        self.outbox = bytearray()  # reports not sent yet (the host reads them when it can)
        self.reported: tuple[int, ...] = ()
        self.flushed = 0

    def warn(self, key: str, message: str, *args: object) -> None:
        if key not in self.warned:
            self.warned.add(key)
            payload = f"{key}\0{message % args}".encode("utf-8", "replace")
            self.outbox += HEADER.pack(b"W", len(payload)) + payload

    def report(self, *, done: bool = False) -> None:
        spool = self.spool
        counts = (0, 0, 0) if spool is None else (spool.written, spool.files, spool.errors)
        state = (*counts, self.flushed, done)
        if state != self.reported:
            self.reported = state
            self.outbox += HEADER.pack(b"S", STATS.size) + STATS.pack(*counts, self.flushed, done)
        self.send_reports(block=done)

    def send_reports(self, *, block: bool) -> None:
        if not self.outbox:
            return
        os.set_blocking(self.status, block)
        try:
            sent = os.write(self.status, self.outbox)
            del self.outbox[:sent]
            if block:
                _write_parts(self.status, [bytes(self.outbox)])
                self.outbox.clear()
        except BlockingIOError:
            pass  # the host reads later: kept for the next report
        except OSError:
            self.outbox.clear()  # the host is gone: write the files all the same

    def handle(self, kind: bytes, payload: memoryview) -> bool:
        """Act on one frame; return False once told to stop."""
        if kind == b"H":
            settings: Settings = pickle.loads(payload)
            self.spool = Spool(
                settings.kind,
                Path(settings.directory),
                settings.prefix,
                batch_size=settings.batch_size,
                chunk_size=settings.chunk_size,
                lock=threading.Lock(),
                warn=self.warn,
                pacing=settings.pacing,
                compression=settings.compression,
            )
            self.flush_interval_s = settings.flush_interval_s
            return True
        spool = self.spool
        assert spool is not None, "the settings come first"
        if kind == b"R":
            (count,) = COUNT.unpack_from(payload)
            start = COUNT.size + 4 * count
            lengths = array("I")
            lengths.frombytes(payload[COUNT.size : start])
            spool.add_packed_run(lengths, bytes(payload[start:]))  # a copy: the buffer moves on
        elif kind == b"A":
            spool.add(pa.ipc.open_stream(bytes(payload)).read_all())  # a copy: the table keeps it
        elif kind == b"F":
            spool.write(everything=True)
            (self.flushed,) = TOKEN.unpack(payload)
        elif kind == b"C":
            return False
        return True

    def run(self, data: int) -> None:
        buffer = bytearray()
        next_file: float | None = None
        running = True
        while running:
            spool = self.spool
            if spool is not None and spool.pending_rows:
                if next_file is None:
                    next_file = time.monotonic() + self.flush_interval_s
                timeout: float | None = max(0.0, next_file - time.monotonic())
            else:
                timeout = None if not self.outbox else 0.05
            readable, _, _ = select.select([data], [], [], timeout)
            if readable:
                chunk = os.read(data, READ_SIZE)
                if not chunk:
                    break  # the host closed the pipe or died: finish
                buffer += chunk
                view = memoryview(buffer)
                offset = 0
                while running and len(buffer) - offset >= HEADER.size:
                    kind, length = HEADER.unpack_from(buffer, offset)
                    end = offset + HEADER.size + length
                    if len(buffer) < end:
                        break
                    running = self.handle(kind, view[offset + HEADER.size : end])
                    offset = end
                view.release()
                del buffer[:offset]
            spool = self.spool
            if spool is not None:
                if next_file is not None and time.monotonic() >= next_file:
                    spool.write(everything=True)
                    next_file = None
                elif spool.pending_rows >= spool.batch_size:
                    spool.write(everything=False)
            self.report()
        if self.spool is not None:
            self.spool.write(everything=True)
        self.report(done=True)


def main() -> None:
    """Run the writer: frames on stdin, reports on what was stdout."""
    status = os.dup(1)
    os.dup2(2, 1)  # whatever prints goes to stderr, not into the reports
    _set_pipe_size(status)
    pa.array([], type=pa.string())  # pyarrow's lazy imports, before the first records
    lower_priority(NICENESS, idle=True)  # after starting up at the host's priority
    _Writer(status).run(0)
