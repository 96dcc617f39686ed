"""What the serving logger costs its host: run by hand, not a test.

    .venv/bin/python bench/sdk_overhead.py            # a table
    .venv/bin/python bench/sdk_overhead.py --json     # the same numbers as JSON

Both writers are measured: ``writer="process"`` (the default: the flusher ships the records,
packed as JSON by the caller, to a writer process, which converts and writes) and ``writer="thread"``
(the flusher converts and writes in the host, pausing to hand over the GIL).

1. Caller's cost: ``RequestLogger.log()`` with a realistic 20-candidate request, timed
   call by call (``perf_counter_ns``), beside a bare function with the same signature
   and arguments, in alternating blocks of the same run; once per writer back to back,
   and once with the process writer at ``--rps`` calls a second (after each gap the
   caches are cold, as in a service: on some machines that costs more than the call). The flusher
   runs meanwhile, so the times include waiting for the GIL it holds.
1b. The writer's cost: the CPU a writer spends per packed request turning it into a spool
   file, for each ``compression``, beside a plain write of the same bytes, and the
   spool's bytes per request.
2. GIL stalls: a thread that sleeps 1 ms in a loop measures how late it wakes while the
   logger converts and writes a backlog of 20,000 records: the time it waited for the
   interpreter, plus any time the OS took to schedule it (the "idle" row shows that
   floor). Beside it, the naive way (one ``pa.Table.from_pylist`` per 5,000), and the
   thread writer's own measure: its longest run between two of its GIL-releasing pauses.
2b. CPU stalls: a process sleeping 1 ms in a loop, pinned to one CPU, measures how late
   it wakes beside a neighbour pinned to the same CPU: nothing; a busy loop as batch
   work (``SCHED_BATCH``, nice 10); a busy loop under ``SCHED_IDLE`` (the writer's, since
   decision 0056); a busy
   loop paced as the writer process is (``_writer.PACING``); the writer process of a
   logger fed 2,000 requests/s from the other CPU, paced and unpaced. It shows whether a
   waking thread waits for a busy neighbour of lower priority (decision 0048).
3. A toy service on 127.0.0.1: each request scores ``--pool`` candidates (20 by default,
   in pure Python), logs the best 20 and returns 10 as JSON. Its HTTP server
   (``--server``) is ``ThreadingHTTPServer`` by default (a thread per connection: 35 % of a
   core at 2,000 requests/s on the AMD EPYC VM of 2026-11-27, all of one on the slower
   VM of 2026-11-26), or an asyncio event loop in one thread (the model of uvicorn and
   other async servers, about 40 µs a request; with ``--pool 100`` it does more work per
   request than the record it logs, about half a core here). Arms, each logging one request record per call:
   "again", a second service without a logger (an A/A comparison: its ratio is the
   bench's own noise, the resolution below which no arm can be judged); two floors that
   any logger pays at least ("noop": ``log()`` does nothing, what is left is the service
   building its arguments; "list": ``log()`` appends them to a list, dropped every 0.2 s);
   each writer; and on request ("--arms") "caller" (``log()`` whose queue is emptied,
   no writer) and the writer process without its pacing. A load generator in another
   process (its collector off; with ``--pin-loader`` on one CPU and the service on the
   others, as if the load came from another machine) sends a fixed rate (open loop,
   keep-alive connections, 1 s of warm-up not counted) and measures latency; the arms
   take turns in rounds (the order rotating), each on a fresh service process. Reported:
   pooled percentiles per arm, and per arm the median, quartiles and range over rounds of
   its p99 divided by the same round's p99 without a logger, the pooled ratio with a 90 %
   bootstrap interval over rounds, and the median for p50. Per segment: the service's CPU
   time (its flusher thread's, and its writer process's), and the garbage collections
   during the measured window. The share of a core the service without a logger used in
   the measured windows is printed too: past ``SATURATED`` the service queues requests
   and its p99 is noise, so the comparison means nothing at that rate on that machine.
   Decisions 0055 and 0058 have the measurements.

Everything runs on this machine: with 2 CPUs, the load generator and any other job
compete with the service, which inflates the tail latencies of part 3: compare an arm
with the floors measured in the same run, not with numbers from another run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from recops.contract import REQUESTS
from recops.priority import lower_priority
from recops.sdk import RequestLogger, _arrow, _spool
from recops.sdk import logger as logger_module
from recops.sdk._spool import COMPRESSIONS, Compression
from recops.sdk._writer import NICENESS, PACING
from recops.sdk.logger import CONVERT_EVERY_S, LoggerOptions, Writer

WRITERS: tuple[Writer, ...] = ("process", "thread")
#: Two floors for any logger: "noop", a ``log()`` that does nothing (what remains is the
#: service building its arguments), and "list", a ``log()`` that appends them to a list.
#: Not run unless asked: "caller", ``RequestLogger.log()`` whose queue is emptied and
#: dropped (what the caller's side costs, without any writer), "process_unpaced",
#: the writer process without its pacing, and "process_zstd", the writer process
#: compressing its files with zstd.
ARMS = ("without", "again", "noop", "list", *WRITERS, "caller", "process_unpaced", "process_zstd")
#: The arms that run a ``RequestLogger``, and its options.
LOGGER_ARMS: dict[str, LoggerOptions] = {
    **{writer: {"writer": writer} for writer in WRITERS},
    "process_unpaced": {"writer": "process"},
    "process_zstd": {"writer": "process", "compression": "zstd"},
}
#: "again" is a second service without a logger: its ratio to "without" is the bench's
#: own noise (an A/A comparison), the resolution below which no arm can be judged.
DEFAULT_ARMS = ARMS[1:-3]
#: An arm name with this suffix logs candidates as one mapping of columns (``noop_columns``,
#: ``process_columns``, ...): what a service holding its candidates in arrays passes.
COLUMNS = "_columns"


def known_arm(name: str) -> bool:
    """True for an arm of part 3 other than "without", with or without ``COLUMNS``."""
    return name.removesuffix(COLUMNS) in ARMS[1:]


HOST = "127.0.0.1"
SOURCES = ("collaborative", "trending", "continue_watching", "similar")

# ----------------------------------------------------------------- shared helpers


def make_request(i: int, rng: random.Random) -> dict[str, Any]:
    """A realistic request record: 20 candidates, stage latencies, context, features."""
    candidates = [
        {
            "item_id": f"item-{rng.randrange(1_000_000)}",
            "source": rng.choice(SOURCES),
            "score": rng.random(),
            "position": j if j < 10 else None,
            "propensity": rng.uniform(0.05, 1.0),
        }
        for j in range(20)
    ]
    return {
        "request_id": f"req-{os.getpid()}-{i}",
        "ts": None,
        "surface": "home_row",
        "user_id": f"user-{rng.randrange(100_000)}",
        "model": "ranker",
        "model_version": "v13",
        "status": "ok",
        "latency_ms": rng.uniform(20, 80),
        "stage_latency_ms": {"candidate_generation": 5.1, "feature_fetch": 3.2, "ranking": 21.7},
        "context": {"device": "tv", "country": "FR", "app_version": "8.1", "arm": "b"},
        "features": {**{f"f{k}": rng.random() for k in range(10)}, "genre": "drama"},
        "feature_ts": {"user_profile": datetime.now(UTC)},
        "candidates": candidates,
    }


def bare(
    *,
    request_id: str,
    surface: str,
    user_id: str,
    model: str,
    model_version: str,
    status: str,
    latency_ms: float,
    candidates: Sequence[Mapping[str, Any]],
    ts: object = None,
    stage_latency_ms: Mapping[str, float | None] | None = None,
    context: Mapping[str, str] | None = None,
    features: Mapping[str, float | str | None] | None = None,
    feature_ts: Mapping[str, object] | None = None,
) -> None:
    """The floor: a function call with the same signature and arguments, doing nothing."""


def summarize_ns(samples: list[int]) -> dict[str, float]:
    samples = sorted(samples)
    n = len(samples)
    return {
        "calls": n,
        "mean_us": sum(samples) / n / 1000,
        "p50_us": samples[n // 2] / 1000,
        "p99_us": samples[min(n - 1, int(n * 0.99))] / 1000,
        "max_us": samples[-1] / 1000,
    }


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    n = len(samples)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "mean_ms": statistics.fmean(samples) * 1000,
        "p50_ms": samples[n // 2] * 1000,
        "p99_ms": samples[min(n - 1, int(n * 0.99))] * 1000,
        "p999_ms": samples[min(n - 1, int(n * 0.999))] * 1000,
        "max_ms": samples[-1] * 1000,
    }


# ----------------------------------------------------------------- 1. caller's cost


def caller_cost(calls: int, blocks: int, writer: Writer, pace_s: float = 0.0) -> dict[str, Any]:
    """Time ``log()`` and a bare call call by call; with ``pace_s``, one call every ``pace_s``
    (as a service calls it: after a gap, its caches cold), else back to back."""
    rng = random.Random(1)
    requests = [make_request(i, rng) for i in range(2000)]
    timings: dict[str, list[int]] = {"bare": [], "log": []}
    clock = time.perf_counter_ns
    with tempfile.TemporaryDirectory() as spool:
        # As in the example, but a queue that holds the whole run: a tight loop
        # logs far faster than any service would, and a drop is cheaper than a log.
        logger = RequestLogger(
            spool,
            max_queue=calls + 1,
            batch_size=5_000,
            flush_interval_s=5.0,
            writer=writer,
        )
        functions: tuple[tuple[str, Callable[..., None]], ...] = (("bare", bare), ("log", logger.log))
        per_block = calls // blocks
        for block in range(blocks):
            for name, function in functions if block % 2 == 0 else functions[::-1]:
                sink = timings[name]
                due = time.perf_counter()
                for i in range(per_block):
                    kwargs = requests[i % len(requests)]
                    if pace_s:
                        due += pace_s
                        time.sleep(max(0.0, due - time.perf_counter()))
                    start = clock()
                    function(**kwargs)
                    sink.append(clock() - start)
        logger.close(timeout_s=None)
        stats = logger.stats
    result: dict[str, Any] = {name: summarize_ns(t) for name, t in timings.items()}
    result["ratio_mean"] = result["log"]["mean_us"] / result["bare"]["mean_us"]
    result["ratio_p99"] = result["log"]["p99_us"] / result["bare"]["p99_us"]
    result["logger_stats"] = vars(stats)
    result["pace_s"] = pace_s
    return result


def spool_cost(records: int, repeats: int) -> dict[str, Any]:
    """The writer's CPU per record and the spool's bytes per record, for each compression.

    The same packed requests (20 candidates each) are written as a writer does (``Spool``,
    unpaced, ``batch_size`` 5,000), best of ``repeats``, in this thread's CPU time; beside
    them, the floor: the same bytes written end to end into one plain file.
    """
    rng = random.Random(2)
    packed = [
        _arrow.pack(REQUESTS, _arrow.raw(REQUESTS, make_request(i, rng), time.time_ns()))
        for i in range(records)
    ]

    def best_cpu_s(work: Callable[[Path], None]) -> tuple[float, int]:
        best, size = float("inf"), 0
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as folder:
                start = time.thread_time()
                work(Path(folder))
                best = min(best, time.thread_time() - start)
                size = sum(path.stat().st_size for path in Path(folder).iterdir())
        return best, size

    def plain(folder: Path) -> None:
        (folder / "plain").write_bytes(b"".join(packed))

    floor_s, floor_size = best_cpu_s(plain)
    result: dict[str, Any] = {
        "records": records,
        "repeats": repeats,
        "json_bytes_per_record": floor_size / records,
        "plain_write_us_per_record": floor_s / records * 1e6,
    }
    for compression in COMPRESSIONS:

        def spool(folder: Path, compression: Compression = compression) -> None:
            writer = _spool.Spool(
                REQUESTS,
                folder,
                "bench-",
                batch_size=5_000,
                chunk_size=64,
                lock=threading.Lock(),
                warn=print,
                compression=compression,
            )
            writer.add_packed(packed)
            writer.write(everything=True)

        cpu_s, size = best_cpu_s(spool)
        result[compression] = {
            "us_per_record": cpu_s / records * 1e6,
            "bytes_per_record": size / records,
            "ratio_to_plain_write": cpu_s / floor_s,
        }
    return result


# ----------------------------------------------------------------- 2. GIL stalls


def _probe(stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        time.sleep(0.001)
        out.append(time.perf_counter() - start - 0.001)


def _probed(work: Callable[[], None]) -> dict[str, float]:
    stop, late = threading.Event(), list[float]()
    probe = threading.Thread(target=_probe, args=(stop, late))
    probe.start()
    time.sleep(0.05)
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    time.sleep(0.01)
    stop.set()
    probe.join()
    late.sort()
    return {
        "work_ms": elapsed * 1000,
        "probe_wakeups": len(late),
        "stall_p99_ms": late[int(len(late) * 0.99)] * 1000,
        "stall_max_ms": late[-1] * 1000,
    }


def _stored_rows(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests as stored rows (features split), for the naive conversion."""
    rows = []
    for r in requests:
        features = r["features"]
        rows.append(
            {
                **r,
                "ts": datetime.now(UTC),
                "features": {k: v for k, v in features.items() if not isinstance(v, str)},
                "feature_strings": {k: v for k, v in features.items() if isinstance(v, str)},
            }
        )
    return rows


class _PauseSpy:
    """Stands in for ``time`` in ``recops.sdk._spool``: times the thread writer's holds between pauses.

    Only while it converts (``Spool.convert``, wrapped by ``converting``): writing a file
    releases the GIL, and its pauses between row groups are not what this measures.
    """

    def __init__(self) -> None:
        self.last: float | None = None
        self.longest = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last)
        time.sleep(seconds)
        if self.last is not None:
            self.last = time.perf_counter()

    def converting(self, convert: Callable[..., None]) -> Callable[..., None]:
        def timed(spool: _spool.Spool, *args: Any, **kwargs: Any) -> None:
            self.last = time.perf_counter()
            try:
                convert(spool, *args, **kwargs)
            finally:
                self.last = None

        return timed


def gil_stalls(records: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(2)
    requests = [make_request(i, rng) for i in range(records)]
    rows = _stored_rows(requests)
    runs: dict[str, list[dict[str, float]]] = {
        "idle": [],
        "process_writer": [],
        "thread_writer": [],
        "naive_from_pylist": [],
    }
    for _ in range(repeats):
        runs["idle"].append(_probed(lambda: time.sleep(0.3)))
        for writer in WRITERS:
            with tempfile.TemporaryDirectory() as spool:
                logger = RequestLogger(
                    spool,
                    max_queue=records + 1,
                    batch_size=5_000,
                    flush_interval_s=3600,
                    writer=writer,
                )
                logger._io_lock.acquire()  # hold the flusher back while the backlog is logged
                for r in requests:
                    logger.log(**r)

                def flush_backlog(logger: RequestLogger = logger) -> None:
                    logger._io_lock.release()
                    logger.close(timeout_s=None)

                spy = _PauseSpy()
                convert = _spool.Spool.convert
                setattr(_spool, "time", spy)  # noqa: B010 - a bench-only spy
                setattr(_spool.Spool, "convert", spy.converting(convert))  # noqa: B010
                try:
                    run = _probed(flush_backlog)
                finally:
                    setattr(_spool, "time", time)  # noqa: B010
                    setattr(_spool.Spool, "convert", convert)  # noqa: B010
                runs[f"{writer}_writer"].append(run | {"hold_max_ms": spy.longest * 1000})
                assert logger.stats.written == records, logger.stats
        with tempfile.TemporaryDirectory() as spool:

            def write_all(spool: str = spool) -> None:
                for start in range(0, records, 5_000):
                    table = pa.Table.from_pylist(rows[start : start + 5_000], schema=REQUESTS.schema)
                    pq.write_table(table, Path(spool) / f"{start}.parquet")

            def naive() -> None:
                writer = threading.Thread(target=write_all)
                writer.start()
                writer.join()

            runs["naive_from_pylist"].append(_probed(naive))
    result: dict[str, Any] = {
        name: {
            "work_ms": statistics.median(r["work_ms"] for r in rs),
            "stall_p99_ms": max(r["stall_p99_ms"] for r in rs),
            "stall_max_ms": max(r["stall_max_ms"] for r in rs),
        }
        for name, rs in runs.items()
    }
    result["thread_writer"]["hold_max_ms"] = max(r["hold_max_ms"] for r in runs["thread_writer"])
    return result | {"records": records, "repeats": repeats}


# ----------------------------------------------------------------- 2b. CPU stalls beside the writer

#: What runs on the probe's CPU in part 2b, beside a 1 ms sleeper of normal priority.
NEIGHBOURS = ("nothing", "spin", "spin_sched_idle", "paced_spin", "writer", "writer_unpaced")


def _pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})


def _keep_off(cpu: int) -> None:
    """Keep this process (and the threads and processes it starts) off ``cpu``."""
    with contextlib.suppress(AttributeError, OSError):
        others = set(os.sched_getaffinity(0)) - {cpu}
        if others:
            os.sched_setaffinity(0, others)


def hog(mode: str, cpu: int) -> None:
    """A CPU-bound neighbour process: spins, at the writer's priority or ``SCHED_IDLE``, paced or not."""
    _pin(cpu)
    if mode == "spin_sched_idle":
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        lower_priority(NICENESS)
    between = PACING.pauser() if mode == "paced_spin" else None
    while True:
        if between is not None:
            between()


def probe(cpu: int, seconds: float) -> None:
    """Print how late a 1 ms sleep wakes up (ms percentiles), pinned to ``cpu``, as JSON."""
    _pin(cpu)
    late: list[float] = []
    end = time.perf_counter() + seconds
    while (start := time.perf_counter()) < end:
        time.sleep(0.001)
        late.append(time.perf_counter() - start - 0.001)
    print(json.dumps(percentiles_ms(late)), flush=True)


def _log_steadily(writer_cpu: int, host_cpu: int, rate: float, seconds: float, paced: bool) -> dict[str, Any]:
    """Log ``rate`` requests/s for ``seconds`` with the writer process pinned to ``writer_cpu``."""
    rng = random.Random(4)
    requests = [make_request(i, rng) for i in range(2000)]
    saved = logger_module.WRITER_PACING
    logger_module.WRITER_PACING = PACING if paced else None
    try:
        with tempfile.TemporaryDirectory() as spool:
            logger = RequestLogger(spool, writer="process")
            logger.flush()
            assert logger.writer_pid is not None
            os.sched_setaffinity(logger.writer_pid, {writer_cpu})
            os.sched_setaffinity(0, {host_cpu})
            start = time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                logger.log(**requests[i % len(requests)])
            logger.close(timeout_s=None)
            return vars(logger.stats)
    finally:
        logger_module.WRITER_PACING = saved
        os.sched_setaffinity(0, range(os.cpu_count() or 1))


def cpu_stalls(seconds: float, repeats: int, rate: float) -> dict[str, Any]:
    """Part 2b: how late a sleeper wakes up on a CPU it shares with each neighbour."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return {"skipped": "needs two CPUs"}
    cpu, other = cpus[-1], cpus[0]
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in NEIGHBOURS}
    for _ in range(repeats):
        for neighbour in NEIGHBOURS:
            sleeper = subprocess.Popen(
                [sys.executable, __file__, "--probe", str(cpu), "--seconds", str(seconds)],
                stdout=subprocess.PIPE,
                text=True,
            )
            spinner = None
            if neighbour.endswith("spin") or neighbour == "spin_sched_idle":
                spinner = subprocess.Popen([sys.executable, __file__, "--hog", neighbour, str(cpu)])
            try:
                if neighbour.startswith("writer"):
                    _log_steadily(cpu, other, rate, seconds + 0.5, paced=neighbour == "writer")
                out, _ = sleeper.communicate(timeout=seconds + 60)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            runs[neighbour].append(json.loads(out))
    return {
        neighbour: {
            key: statistics.median(r[key] for r in rs)
            for key in ("n", "p50_ms", "p99_ms", "p999_ms", "max_ms")
        }
        for neighbour, rs in runs.items()
    } | {"seconds": seconds, "repeats": repeats, "rate": rate, "cpu": cpu}


# ----------------------------------------------------------------- 3. toy service


ITEMS = 5_000
DIM = 16
FEATURE_NAMES = [f"f{k}" for k in range(DIM)]
#: Candidates scored per request by default: the best 20 are logged, 10 shown.
POOL = 20
#: Above this share of a core in the measured windows, a toy service's p99 is queueing noise.
SATURATED = 0.8
#: The candidates' positions (the first ten are shown) and propensities, as columns.
POSITIONS = [*range(10), *[None] * 10]
PROPENSITIES = [0.5] * 20


class NoopLogger:
    """A floor for any logger: ``log()`` does nothing with its arguments."""

    def log(self, **fields: Any) -> None:
        pass

    def close(self) -> dict[str, int]:
        return {"logged": 0, "dropped": 0, "errors": 0}


class ListLogger:
    """A floor for any logger: ``log()`` appends its arguments to a list, nothing else.

    A thread takes the list as often as ``RequestLogger``'s flusher takes its queue, and
    drops it (so the records live about as long as in a real logger's queue).
    """

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.logged = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def log(self, **fields: Any) -> None:
        self.records.append(fields)

    def _run(self) -> None:
        while not self._stop.wait(CONVERT_EVERY_S):
            taken, self.records = self.records, []
            self.logged += len(taken)

    def close(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {"logged": self.logged + len(self.records), "dropped": 0, "errors": 0}


class CallerOnlyLogger(RequestLogger):
    """``RequestLogger`` with its caller's side only: the flusher drops what is queued."""

    def _take_queued(self) -> None:
        with self._lock:
            self._queue = []


class _Service:
    def __init__(self, arm: str, spool: str, pool: int = POOL) -> None:
        self.pool = pool
        self.columns = arm.endswith(COLUMNS)
        arm = arm.removesuffix(COLUMNS)
        rng = random.Random(3)
        self.items = [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(ITEMS)]
        # A catalog's own ids and candidate sources: a service holds these as strings.
        self.item_ids = [f"item-{i}" for i in range(ITEMS)]
        self.item_sources = [SOURCES[i % len(SOURCES)] for i in range(ITEMS)]
        self.rng = rng
        self.logger: RequestLogger | ListLogger | NoopLogger | None = None
        if arm == "noop":
            self.logger = NoopLogger()
        elif arm == "list":
            self.logger = ListLogger()
        elif arm == "caller":
            self.logger = CallerOnlyLogger(spool, writer="thread")
        elif arm in LOGGER_ARMS:
            if arm == "process_unpaced":
                logger_module.WRITER_PACING = None
            self.logger = RequestLogger(spool, **LOGGER_ARMS[arm])
            self.logger.flush()  # steady state: a writer process has started (imported pyarrow)
        self.count = 0

    def close(self) -> dict[str, int] | None:
        """Close the logger (writing what it holds); return its counts."""
        if isinstance(self.logger, ListLogger | NoopLogger):
            return self.logger.close()
        if self.logger is not None:
            self.logger.close(timeout_s=None)
            return vars(self.logger.stats)
        return None

    def recommend(self, user: int) -> bytes:
        start = time.perf_counter()
        rng = random.Random(user)
        # the user's features, as a feature store returns them (the ranking reads them)
        features: dict[str, float | str] = {name: rng.uniform(-1, 1) for name in FEATURE_NAMES}
        vector = list(features.values())
        features["genre"] = "drama"
        picked = rng.sample(range(ITEMS), self.pool)
        scored = sorted(
            ((sum(a * b for a, b in zip(vector, self.items[i], strict=True)), i) for i in picked),
            reverse=True,
        )[:20]
        ids, sources = self.item_ids, self.item_sources
        slate = [{"item_id": ids[i], "score": round(s, 4)} for s, i in scored[:10]]
        self.count += 1
        request_id = f"req-{os.getpid()}-{self.count}"
        if self.logger is not None:
            candidates: list[dict[str, Any]] | dict[str, list[Any]]
            if self.columns:
                candidates = {
                    "item_id": [ids[i] for _, i in scored],
                    "source": [sources[i] for _, i in scored],
                    "score": [s for s, _ in scored],
                    "position": POSITIONS,
                    "propensity": PROPENSITIES,
                }
            else:
                candidates = [
                    {
                        "item_id": ids[i],
                        "source": sources[i],
                        "score": s,
                        "position": pos if pos < 10 else None,
                        "propensity": 0.5,
                    }
                    for pos, (s, i) in enumerate(scored)
                ]
            self.logger.log(
                request_id=request_id,
                surface="home_row",
                user_id=f"user-{user}",
                model="ranker",
                model_version="v13",
                status="ok",
                latency_ms=(time.perf_counter() - start) * 1000,
                stage_latency_ms={"candidate_generation": 0.1, "ranking": 0.2},
                context={"device": "tv", "country": "FR", "app_version": "8.1", "arm": "b"},
                features=features,
                feature_ts={"user_profile": 1764000000000},
                candidates=candidates,
            )
        return json.dumps({"request_id": request_id, "items": slate}).encode()


def _gc_pauses() -> list[tuple[float, int, float]]:
    """Start timing the collector's pauses (they hold the GIL).

    Returns:
        The live list of (``time.monotonic()`` at the end, generation, pause in ms).
    """
    events: list[tuple[float, int, float]] = []
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            events.append((time.monotonic(), info["generation"], (time.perf_counter() - started[0]) * 1000))

    gc.callbacks.append(callback)
    return events


def _cpu_samples(every_s: float = 0.1) -> list[tuple[float, float]]:
    """Start sampling this process's CPU time (all its threads; not its writer process).

    Returns:
        The live list of (``time.monotonic()``, ``time.process_time()``), one pair every
        ``every_s``: the load generator's measured window (monotonic times, the same clock
        in every process) then gives the service's CPU use during it.
    """
    samples: list[tuple[float, float]] = []

    def run() -> None:
        while True:
            samples.append((time.monotonic(), time.process_time()))
            time.sleep(every_s)

    threading.Thread(target=run, name="cpu-sampler", daemon=True).start()
    return samples


def utilization(samples: Sequence[Sequence[float]], window: Sequence[float]) -> float | None:
    """CPU seconds per second of the service between the first and last sample inside ``window``."""
    inside = [(t, cpu) for t, cpu in samples if window[0] <= t <= window[1]]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def gc_summary(events: list[tuple[float, int, float]], window: tuple[float, float]) -> dict[str, Any]:
    """Collections per generation and their pauses within ``window`` (monotonic times)."""
    inside = [(gen, ms) for t, gen, ms in events if window[0] <= t <= window[1]]
    return {
        "count": [sum(1 for gen, _ in inside if gen == g) for g in range(3)],
        "total_ms": sum(ms for _, ms in inside),
        "max_ms": max((ms for _, ms in inside), default=0.0),
    }


def _thread_cpu_s(name: str) -> float | None:
    """CPU seconds used so far by the thread called ``name`` (Linux only)."""
    for thread in threading.enumerate():
        if thread.name == name and thread.native_id is not None:
            try:
                fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1]
            except OSError:
                return None
            utime, stime = fields.split()[11:13]
            return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")
    return None


def _threading_server(service: _Service) -> tuple[int, Callable[[], None]]:
    """``ThreadingHTTPServer``: a thread per connection, headers parsed by ``http.server``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            body = service.recommend(int(query.get("user", ["0"])[0]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1], server.shutdown


class _ToyProtocol(asyncio.Protocol):
    """One keep-alive connection of the asyncio toy: GET requests in, JSON out, in order."""

    def __init__(self, service: _Service) -> None:
        self.service = service
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.pending += data
        while (end := self.pending.find(b"\r\n\r\n")) >= 0:
            head, self.pending = self.pending[:end], self.pending[end + 4 :]
            target = head.split(b" ", 2)[1].decode()
            query = parse_qs(urlsplit(target).query)
            body = self.service.recommend(int(query.get("user", ["0"])[0]))
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )


def _asyncio_server(service: _Service) -> tuple[int, Callable[[], None]]:
    """An asyncio event loop in one thread (the model of uvicorn and other async servers)."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: _ToyProtocol(service), HOST, 0))
    threading.Thread(target=loop.run_forever, name="toy-event-loop", daemon=True).start()

    def stop() -> None:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)

    return server.sockets[0].getsockname()[1], stop


#: The toy's HTTP servers: the cost per request of each, beside ``recommend()``, differs.
SERVERS: dict[str, Callable[[_Service], tuple[int, Callable[[], None]]]] = {
    "threading": _threading_server,
    "asyncio": _asyncio_server,
}


def serve(arm: str, spool: str, server: str, pool: int, loader_cpu: int | None) -> None:
    """Run the toy service until stdin closes; print its port, then its stats.

    With the loader on a CPU of its own, the service (its writer process too) keeps to the
    other CPUs; else the kernel, which wakes a thread on its waker's CPU, moves the
    service's threads onto the loader's CPU and each takes the other's time (traced with
    ``perf sched``: 0.18 s of each one's waiting in 6 s came from the other), which load
    from another machine would not do.
    """
    if loader_cpu is not None:
        _keep_off(loader_cpu)
    service = _Service(arm, spool, pool)
    gc_pauses = _gc_pauses()
    cpu_samples = _cpu_samples()
    port, stop = SERVERS[server](service)
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()
    stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    flusher_cpu_s = _thread_cpu_s("recops-requests-flusher")
    stats = service.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the writer process, reaped by close()
    print(
        json.dumps(
            {
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "sys_s": usage.ru_stime,
                "ctx_switches": usage.ru_nvcsw + usage.ru_nivcsw,
                "flusher_cpu_s": flusher_cpu_s,
                "writer_process_cpu_s": children.ru_utime + children.ru_stime,
                "logger": stats,
                "gc_events": gc_pauses,
                "cpu_samples": cpu_samples,
            }
        ),
        flush=True,
    )


async def _load(port: int, rps: float, seconds: float, warmup_s: float, connections: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        idle.put_nowait((reader, writer))
    latencies: list[float] = []
    late: list[float] = []
    errors = 0
    total = int(rps * (warmup_s + seconds))
    first_measured = int(rps * warmup_s)

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        conn = await idle.get()
        reader, writer = conn
        try:
            sent = time.perf_counter()
            writer.write(f"GET /recommend?user={i % 100_000} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            done = time.perf_counter()
            if i >= first_measured:
                latencies.append(done - sent)
                late.append(done - scheduled)
            idle.put_nowait(conn)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection(HOST, port)
            idle.put_nowait((reader, writer))

    tasks = []
    start = time.perf_counter()
    window_start = time.monotonic() + warmup_s
    deadline = start + warmup_s + seconds + 30
    for i in range(total):
        scheduled = start + i / rps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.perf_counter() > deadline:
            break
        tasks.append(loop.create_task(one(i, scheduled)))
    sending_s = time.perf_counter() - start
    window_end = time.monotonic()
    _, unanswered = await asyncio.wait(tasks, timeout=10)
    for task in unanswered:
        task.cancel()
    while not idle.empty():
        idle.get_nowait()[1].close()
    return {
        "latencies": latencies,
        "from_schedule": late,
        "errors": errors + len(unanswered),
        "sent": len(tasks),
        "rps_achieved": len(tasks) / sending_s,
        "loader_cpu_s": time.process_time(),
        "window": (window_start, window_end),
    }


def load(port: int, rps: float, seconds: float, warmup_s: float, connections: int, cpu: int | None) -> None:
    """Load generator process: print the latencies as JSON.

    Its collector is off (a pause of the loader's would count as the service's latency), and
    given a CPU it keeps to that one.
    """
    gc.disable()
    if cpu is not None:
        _pin(cpu)
    print(json.dumps(asyncio.run(_load(port, rps, seconds, warmup_s, connections))), flush=True)


def _segment(arm: str, args: argparse.Namespace, spool: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--serve",
        arm,
        "--spool",
        spool,
        "--server",
        args.server,
        "--pool",
        str(args.pool),
        *(["--pin-loader", str(args.pin_loader)] if args.pin_loader is not None else []),
    ]
    service = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert service.stdout is not None and service.stdin is not None
        port = json.loads(service.stdout.readline())["port"]
        loader = subprocess.run(
            [sys.executable, __file__, "--load", str(port), "--rps", str(args.rps),
             "--seconds", str(args.seconds), "--connections", str(args.connections),
             *(["--pin-loader", str(args.pin_loader)] if args.pin_loader is not None else [])],
            capture_output=True, text=True, timeout=args.seconds + 120, check=True,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(loader.stdout)
        service.stdin.close()
        result["service"] = json.loads(service.stdout.readline())
        service.wait(timeout=60)
        return result
    finally:
        if service.poll() is None:
            service.kill()


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles and range of per-round values."""
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4, method="inclusive") if len(ordered) > 1 else ordered * 3
    return {
        "median": statistics.median(ordered),
        "q1": quartiles[0],
        "q3": quartiles[2],
        "min": ordered[0],
        "max": ordered[-1],
    }


def bootstrap_p99_ratio(
    segments: Mapping[tuple[int, str], Sequence[float]], arm: str, rounds: int, resamples: int = 400
) -> tuple[float, float]:
    """A 90 % interval for the pooled p99 of ``arm`` over the pooled p99 without a logger.

    Rounds are resampled with replacement, each keeping its pair of segments (they ran
    side by side, on the machine as it was then).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    arm_segments = [np.asarray(segments[(i, arm)]) for i in range(rounds)]
    floor_segments = [np.asarray(segments[(i, "without")]) for i in range(rounds)]
    ratios = []
    for _ in range(resamples):
        chosen = rng.integers(0, rounds, rounds)
        arm_p99 = np.percentile(np.concatenate([arm_segments[i] for i in chosen]), 99)
        floor_p99 = np.percentile(np.concatenate([floor_segments[i] for i in chosen]), 99)
        ratios.append(arm_p99 / floor_p99)
    low, high = np.percentile(ratios, [5, 95])
    return float(low), float(high)


def http_overhead(args: argparse.Namespace) -> dict[str, Any]:
    arms: tuple[str, ...] = ("without", *args.arms)
    pooled: dict[str, dict[str, list[float]]] = {arm: {"latencies": [], "from_schedule": []} for arm in arms}
    rounds: list[dict[str, Any]] = []
    segments: dict[tuple[int, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as spool:
        for round_ in range(args.rounds):
            order = arms[round_ % len(arms) :] + arms[: round_ % len(arms)]
            for arm in order:
                result = _segment(arm, args, spool)
                segments[(round_, arm)] = result["latencies"]
                for key in ("latencies", "from_schedule"):
                    pooled[arm][key].extend(result[key])
                latency = percentiles_ms(result["latencies"])
                rounds.append(
                    {
                        "round": round_,
                        "arm": arm,
                        "p50_ms": latency["p50_ms"],
                        "p99_ms": latency["p99_ms"],
                        "errors": result["errors"],
                        "loader_cpu_s": result["loader_cpu_s"],
                        "rps_achieved": result["rps_achieved"],
                        "service_cpu_s": result["service"]["cpu_s"],
                        "service_sys_s": result["service"]["sys_s"],
                        "service_ctx_switches": result["service"]["ctx_switches"],
                        "flusher_cpu_s": result["service"]["flusher_cpu_s"],
                        "writer_process_cpu_s": result["service"]["writer_process_cpu_s"],
                        "logger": result["service"]["logger"],
                        "gc": gc_summary(result["service"]["gc_events"], result["window"]),
                        "utilization": utilization(result["service"]["cpu_samples"], result["window"]),
                    }
                )
        files = list(Path(spool).glob("*.parquet"))
        rows_written = sum(pq.read_metadata(p).num_rows for p in files)
    summary: dict[str, Any] = {
        arm: {
            "latency": percentiles_ms(pooled[arm]["latencies"]),
            "latency_from_schedule": percentiles_ms(pooled[arm]["from_schedule"]),
            "service_cpu_s": sum(r["service_cpu_s"] for r in rounds if r["arm"] == arm),
            "writer_process_cpu_s": sum(r["writer_process_cpu_s"] for r in rounds if r["arm"] == arm),
            "utilization_median": _median([r["utilization"] for r in rounds if r["arm"] == arm]),
        }
        for arm in arms
    }
    by_round = {(r["round"], r["arm"]): r for r in rounds}
    for arm in args.arms:
        for q in ("p50", "p99"):
            ratios = [
                by_round[(i, arm)][f"{q}_ms"] / by_round[(i, "without")][f"{q}_ms"]
                for i in range(args.rounds)
            ]
            summary[arm][f"{q}_ratios"] = ratios
            summary[arm][f"{q}_ratio_median"] = statistics.median(ratios)
            summary[arm][f"{q}_ratio_spread"] = spread(ratios)
            pooled_ratio = summary[arm]["latency"][f"{q}_ms"] / summary["without"]["latency"][f"{q}_ms"]
            summary[arm][f"{q}_ratio_pooled"] = pooled_ratio
        summary[arm]["p99_ratio_pooled_interval"] = bootstrap_p99_ratio(segments, arm, args.rounds)
    summary["arms"] = arms
    summary["rounds"] = rounds
    summary["files_written"] = len(files)
    summary["rows_written"] = rows_written
    summary["config"] = {
        "rps": args.rps,
        "seconds_per_segment": args.seconds,
        "rounds": args.rounds,
        "connections": args.connections,
        "server": args.server,
        "pool": args.pool,
        "cpus": os.cpu_count(),
    }
    return summary


# ----------------------------------------------------------------- report


def print_table(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(
        f"{machine['cpus']} CPUs; load average {machine['load_average_at_start'][0]:.2f} at start,"
        f" {machine['load_average_at_end'][0]:.2f} at end (other jobs on the machine skew part 3)\n"
    )
    for writer, cost in report.get("caller_cost", {}).items():
        pace = f", one call every {cost['pace_s'] * 1000:g} ms" if cost.get("pace_s") else ""
        print(
            f"1. caller's cost per call, writer={writer} ({cost['log']['calls']:,} calls each, 20 candidates"
            f"{pace})"
        )
        print(f"   {'':14} {'mean µs':>9} {'p50 µs':>9} {'p99 µs':>9} {'max µs':>10}")
        for name in ("bare", "log"):
            c = cost[name]
            label = "bare call" if name == "bare" else "logger.log()"
            print(
                f"   {label:14} {c['mean_us']:9.2f} {c['p50_us']:9.2f} {c['p99_us']:9.2f} {c['max_us']:10.1f}"
            )
        print(f"   ratio log/bare: mean {cost['ratio_mean']:.1f}x, p99 {cost['ratio_p99']:.1f}x")
        print(f"   logger stats: {cost['logger_stats']}")
    if "spool_cost" in report:
        spool = report["spool_cost"]
        print(
            f"1b. the writer's CPU per packed request ({spool['records']:,} requests of"
            f" {spool['json_bytes_per_record']:,.0f} bytes of JSON; best of {spool['repeats']})"
        )
        print(f"   plain write of the same bytes: {spool['plain_write_us_per_record']:.2f} µs a record")
        for compression in COMPRESSIONS:
            c = spool[compression]
            print(
                f"   spool, {compression:5}: {c['us_per_record']:6.2f} µs a record"
                f" ({c['ratio_to_plain_write']:.1f}x the plain write),"
                f" {c['bytes_per_record']:,.0f} bytes a record"
            )
    if (gil := report.get("gil_stalls")) is not None:
        print(f"\n2. GIL stalls seen by a 1 ms sleeper while {gil['records']:,} records are written")
        print(f"   {'':20} {'work ms':>9} {'stall p99 ms':>13} {'stall max ms':>13}")
        for name in ("idle", "process_writer", "thread_writer", "naive_from_pylist"):
            g = gil[name]
            print(f"   {name:20} {g['work_ms']:9.1f} {g['stall_p99_ms']:13.2f} {g['stall_max_ms']:13.2f}")
        hold = gil["thread_writer"]["hold_max_ms"]
        print(f"   thread writer's longest run between two GIL-releasing pauses (converting): {hold:.2f} ms")
    if (cpu := report.get("cpu_stalls")) is not None and "skipped" not in cpu:
        print(
            f"\n2b. how late a 1 ms sleeper wakes up on CPU {cpu['cpu']} beside each neighbour pinned there"
            f" (medians of {cpu['repeats']} runs of {cpu['seconds']}s; writer: {cpu['rate']:.0f} requests/s)"
        )
        print(f"   {'':18} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8}")
        for neighbour in NEIGHBOURS:
            c = cpu[neighbour]
            print(
                f"   {neighbour:18} {c['p50_ms']:8.3f} {c['p99_ms']:8.3f} {c['p999_ms']:9.3f}"
                f" {c['max_ms']:8.2f}"
            )
    if "http" not in report:
        return
    http = report["http"]
    cfg = http["config"]
    print(
        f"\n3. toy HTTP service ({cfg['server']} server, scoring {cfg['pool']}) at {cfg['rps']} req/s,"
        f" {cfg['rounds']} rounds x {cfg['seconds_per_segment']}s"
        f" per variant, {cfg['connections']} keep-alive connections, {cfg['cpus']} CPUs"
    )
    print(
        f"   {'':16} {'n':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} {'CPU s':>7}"
        f" {'writer CPU s':>13}"
    )
    labels = {"without": "no logger", "noop": "no-op log()", "list": "list.append"}
    labels["again"] = "no logger again"
    for arm in http["arms"]:
        lat = http[arm]["latency"]
        label = labels.get(arm, f"{arm} writer")
        print(
            f"   {label:16} {lat['n']:7d} {lat['p50_ms']:8.3f} {lat['p99_ms']:8.3f}"
            f" {lat['p999_ms']:9.3f} {lat['max_ms']:8.2f} {http[arm]['service_cpu_s']:7.1f}"
            f" {http[arm]['writer_process_cpu_s']:13.1f}"
        )
    busy = http["without"]["utilization_median"] or 0.0
    print(
        f"   the service without a logger used {busy:.0%} of a core in the measured windows (median)"
        + (
            f": SATURATED at {http['config']['rps']:g} req/s on this machine, its p99 is queueing noise;"
            " compare at a lower --rps"
            if busy > SATURATED
            else ""
        )
    )
    print("   p99 / the same round's p99 without a logger: median [quartiles] (range), pooled; p50 median")
    for arm in http["arms"][1:]:
        w = http[arm]
        sp = w["p99_ratio_spread"]
        low, high = w["p99_ratio_pooled_interval"]
        print(
            f"   {labels.get(arm, f'{arm} writer'):16} {sp['median']:.3f} [{sp['q1']:.3f}-{sp['q3']:.3f}]"
            f" ({sp['min']:.2f}-{sp['max']:.2f}), pooled {w['p99_ratio_pooled']:.3f}"
            f" (90 % interval {low:.2f}-{high:.2f}); p50 {w['p50_ratio_median']:.3f}"
        )
    print(
        "   segments: p50 ms, p99 ms | service CPU s (flusher thread) [writer process] |"
        " GC runs gen0/gen1/gen2, longest pause ms"
    )
    for r in http["rounds"]:
        gc_ = r["gc"]
        flusher = f"({r['flusher_cpu_s']:.2f})" if r["flusher_cpu_s"] is not None else ""
        child = f"[{r['writer_process_cpu_s']:.2f}]" if r["arm"].startswith("process") else ""
        runs = "/".join(str(n) for n in gc_["count"])
        print(
            f"     {r['round']:2} {r['arm']:8} {r['p50_ms']:6.2f} {r['p99_ms']:7.2f}"
            f" | {r['service_cpu_s']:5.2f}"
            f" {flusher:>6} {child:>6} | {runs:>9}, {gc_['max_ms']:.1f}"
        )
    errors = sum(r["errors"] for r in http["rounds"])
    logged = [r["logger"] for r in http["rounds"] if r["logger"]]
    print(
        f"   errors {errors}; logged {sum(s['logged'] for s in logged):,}, dropped"
        f" {sum(s['dropped'] for s in logged)}, logger errors {sum(s['errors'] for s in logged)},"
        f" written {http['rows_written']:,} rows in {http['files_written']} files"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--calls", type=int, default=200_000, help="calls per function (part 1)")
    parser.add_argument("--rps", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per segment")
    parser.add_argument("--rounds", type=int, default=5, help="segments per variant")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--server",
        choices=tuple(SERVERS),
        default="threading",
        help="the toy's HTTP server (part 3): an asyncio event loop, or a thread per connection",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=POOL,
        help="candidates the toy scores per request (part 3); it logs the best 20 and shows 10",
    )
    parser.add_argument(
        "--pin-loader",
        type=int,
        metavar="CPU",
        help=(
            "keep the load generator on this CPU and the toy service off it (part 3), as if the load"
            " came from another machine"
        ),
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--only-http", action="store_true", help="skip parts 1, 2 and 2b")
    parser.add_argument("--only-cpu-stalls", action="store_true", help="run part 2b alone")
    parser.add_argument(
        "--arms",
        type=lambda text: tuple(text.split(",")),
        default=DEFAULT_ARMS,
        help=(
            f"loggers compared with no logger in part 3 (comma-separated; default {','.join(DEFAULT_ARMS)};"
            f" add {COLUMNS} to an arm to log candidates as columns)"
        ),
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--spool", help=argparse.SUPPRESS)
    parser.add_argument("--load", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, metavar="CPU", help=argparse.SUPPRESS)
    parser.add_argument("--hog", nargs=2, metavar=("MODE", "CPU"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := sorted(arm for arm in args.arms if not known_arm(arm)):
        parser.error(f"unknown arms {unknown}; choose among {', '.join(ARMS[1:])}, each also + {COLUMNS}")
    if args.serve:
        serve(args.serve, args.spool, args.server, args.pool, args.pin_loader)
        return
    if args.load:
        load(args.load, args.rps, args.seconds, 1.0, args.connections, args.pin_loader)
        return
    if args.probe is not None:
        probe(args.probe, args.seconds)
        return
    if args.hog:
        hog(args.hog[0], int(args.hog[1]))
        return
    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}}
    if not args.only_http and not args.only_cpu_stalls:
        report["caller_cost"] = {writer: caller_cost(args.calls, 10, writer) for writer in WRITERS}
        paced = caller_cost(min(args.calls, 10_000), 10, "process", pace_s=1 / args.rps)
        report["caller_cost"]["process, paced"] = paced
        report["spool_cost"] = spool_cost(5_000, repeats=5)
        report["gil_stalls"] = gil_stalls(20_000, repeats=3)
    if not args.only_http:
        report["cpu_stalls"] = cpu_stalls(args.seconds, repeats=args.rounds, rate=args.rps)
    if not args.skip_http and not args.only_cpu_stalls:
        report["http"] = http_overhead(args)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
