"""RequestLogger / OutcomeLogger / RecordLogger: files, backpressure, flushing, failures.

Most tests run with both writers: the writer process (the default) and the in-process
flusher thread (``writer="thread"``).
"""

from __future__ import annotations

import inspect
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import recops.sdk
from recops.contract import CHANGES, OUTCOMES, REQUESTS, RecordKind, packed
from recops.ingest.packed import read_packed
from recops.sdk import (
    LoggerStats,
    OutcomeLogger,
    RecordLogger,
    RequestLogger,
    _spool,
    _writer,
    read_spool_file,
)
from recops.sdk import logger as logger_module
from recops.sdk._writer import PACING, Settings, WriterProcess

PARIS = timezone(timedelta(hours=1))


@pytest.fixture(params=["process", "thread"])
def writer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def visible_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def read_rows(directory: Path, schema: pa.Schema = REQUESTS.schema) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in visible_files(directory):
        table = read_spool_file(path)
        assert table.schema.equals(schema), path
        rows.extend(table.to_pylist())
    return rows


def refused(directory: Path, kind: RecordKind = REQUESTS) -> dict[str, str]:
    """Request id (or row) → the field ingest names for each spooled record it cannot convert."""
    found: dict[str, str] = {}
    for path in visible_files(directory):
        if packed.packed_kind(pq.read_schema(path)) is None:
            continue  # a file in the stored form: converted by the logger, all good
        table = read_packed(path, kind)
        records = pq.read_table(path).column("record").to_pylist()
        for row, violation in zip(
            table.column("_row").to_pylist(), table.column("_tv").to_pylist(), strict=True
        ):
            if violation is not None:
                found[orjson.loads(records[row - 1])[0]] = violation["field"]
    return found


def good_rows(directory: Path) -> list[dict[str, Any]]:
    """The spooled requests ingest can convert (what ``read_rows`` gives when all can)."""
    rows: list[dict[str, Any]] = []
    for path in visible_files(directory):
        if packed.packed_kind(pq.read_schema(path)) is None:
            rows.extend(pq.read_table(path).to_pylist())
            continue
        table = read_packed(path, REQUESTS)
        table = table.filter(pc.is_null(table.column("_tv")))
        rows.extend(table.drop_columns(["_row", "_tv"]).to_pylist())
    return rows


def request(i: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "request_id": f"r{i}",
        "surface": "home_row",
        "user_id": f"u{i}",
        "model": "ranker",
        "model_version": "v13",
        "status": "ok",
        "latency_ms": 40.0 + i,
        "candidates": [
            {"item_id": f"i{j}", "source": "trending", "score": j / 10, "position": j} for j in range(3)
        ],
    }
    values.update(overrides)
    return values


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def test_request_files_read_back_equal_to_the_logged_records(tmp_path: Path, writer: str) -> None:
    logged_at = datetime.now(UTC)
    with RequestLogger(tmp_path, flush_interval_s=60, writer=writer) as logger:
        logger.log(
            request_id="full",
            ts=datetime(2026, 11, 24, 13, 0, 0, 123456, tzinfo=PARIS),
            surface="autoplay",
            user_id="u-1",
            model="ranker",
            model_version="v13",
            status="fallback",
            latency_ms=41.2,
            stage_latency_ms={"candidate_generation": 5, "ranking": 30.5},
            context={"device": "tv", "country": "FR"},
            features={"age_days": 120, "ctr_7d": 0.031, "genre": "drama", "missing": None},
            feature_ts={"user_profile": datetime(2026, 11, 24, 11, 0), "item_stats": 1764000000000},
            candidates=[
                {"item_id": "a", "source": "collaborative", "score": 0.9, "position": 0, "propensity": 0.5},
                {"item_id": "b", "source": "trending", "score": None, "position": None},
            ],
        )
        logger.log(**request(1, ts=1764000000123))  # epoch milliseconds
        logger.log(**request(2, ts=datetime(2026, 11, 24, 12, 0)))  # naive: UTC
        logger.log(**request(3, ts="2026-11-24T12:00:00Z", candidates=[]))
        logger.log(**request(4, features={"genre": "comedy"}))  # ts None: now
        logger.log(**request(5, features={"is_kids": True, "n": 3}))
    assert logger.stats == LoggerStats(logged=6, written=6, files=1)
    [path] = visible_files(tmp_path)
    assert path.name.startswith("requests-") and f"-{os.getpid()}-" in path.name
    assert path.suffix == ".parquet"
    rows = {row["request_id"]: row for row in read_rows(tmp_path)}

    full = rows["full"]
    assert full["ts"] == utc(2026, 11, 24, 12, 0, 0, 123456)
    assert full["ts"].utcoffset() == timedelta(0)
    assert (full["surface"], full["user_id"], full["status"]) == ("autoplay", "u-1", "fallback")
    assert full["latency_ms"] == 41.2
    assert full["stage_latency_ms"] == [("candidate_generation", 5.0), ("ranking", 30.5)]
    assert full["context"] == [("device", "tv"), ("country", "FR")]
    assert full["features"] == [("age_days", 120.0), ("ctr_7d", 0.031), ("missing", None)]
    assert full["feature_strings"] == [("genre", "drama")]
    assert full["feature_ts"] == [
        ("user_profile", utc(2026, 11, 24, 11, 0)),
        ("item_stats", utc(2025, 11, 24, 16, 0)),
    ]
    assert full["candidates"] == [
        {"item_id": "a", "source": "collaborative", "score": 0.9, "position": 0, "propensity": 0.5},
        {"item_id": "b", "source": "trending", "score": None, "position": None, "propensity": None},
    ]
    assert rows["r1"]["ts"] == utc(2025, 11, 24, 16, 0, 0, 123000)
    assert rows["r1"]["features"] is None and rows["r1"]["feature_strings"] is None
    assert rows["r1"]["stage_latency_ms"] is None and rows["r1"]["context"] is None
    assert rows["r1"]["candidates"][2] == {
        "item_id": "i2",
        "source": "trending",
        "score": 0.2,
        "position": 2,
        "propensity": None,
    }
    assert rows["r2"]["ts"] == utc(2026, 11, 24, 12, 0)
    assert rows["r3"]["ts"] == utc(2026, 11, 24, 12, 0) and rows["r3"]["candidates"] == []
    assert logged_at <= rows["r4"]["ts"] <= datetime.now(UTC)
    assert rows["r4"]["features"] == [] and rows["r4"]["feature_strings"] == [("genre", "comedy")]
    # as ingest stores the same record sent as JSON: booleans are numbers, no strings is {}
    assert rows["r5"]["features"] == [("is_kids", 1.0), ("n", 3.0)]
    assert rows["r5"]["feature_strings"] == []


def test_logged_values_are_copied_at_once(tmp_path: Path, writer: str) -> None:
    candidates = [{"item_id": "a", "source": "trending", "score": 0.5, "position": 0}]
    features: dict[str, Any] = {"ctr": 0.1}
    references = sys.getrefcount(candidates), sys.getrefcount(features)
    with RequestLogger(tmp_path, flush_interval_s=3600, writer=writer) as logger:
        logger.log(**request(0, candidates=candidates, features=features))
        # nothing of the caller's is kept, and it may reuse its objects at once
        assert (sys.getrefcount(candidates), sys.getrefcount(features)) == references
        candidates[0]["item_id"] = "changed"
        features["ctr"] = 0.9
    [row] = read_rows(tmp_path)
    assert row["candidates"][0]["item_id"] == "a" and row["features"] == [("ctr", 0.1)]


def test_records_that_cannot_be_pickled_are_logged_by_reference(tmp_path: Path, writer: str) -> None:
    class Score(float):  # a local class: pickle refuses it
        pass

    with RequestLogger(tmp_path, writer=writer) as logger:
        logger.log(**request(0, candidates=[{"item_id": "a", "source": "s", "score": Score(0.5)}]))
        logger.log(**request(1))
    # the copied record is converted by the logger (a file in the stored form), the other packed
    assert logger.stats == LoggerStats(logged=2, written=2, files=2)
    row = next(r for r in read_rows(tmp_path) if r["request_id"] == "r0")
    assert row["candidates"] == [
        {"item_id": "a", "source": "s", "score": 0.5, "position": None, "propensity": None}
    ]


def test_numpy_scalars_are_logged_as_numbers(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    scores = np.array([0.5, 0.25], dtype=np.float32)
    with RequestLogger(tmp_path) as logger:
        logger.log(
            **request(
                0,
                latency_ms=np.float64(12.5),
                features={"n": np.int64(3)},
                candidates=[
                    {"item_id": f"i{j}", "source": "s", "score": s, "position": np.int32(j)}
                    for j, s in enumerate(scores)
                ],
            )
        )
    [row] = read_rows(tmp_path)
    assert row["latency_ms"] == 12.5 and row["features"] == [("n", 3.0)]
    assert [(c["score"], c["position"]) for c in row["candidates"]] == [(0.5, 0), (0.25, 1)]


def test_candidates_as_columns_are_stored_as_candidates_as_rows(tmp_path: Path, writer: str) -> None:
    np = pytest.importorskip("numpy")
    rows = [
        {"item_id": "a", "source": "s", "score": 0.5, "position": 0, "propensity": 0.75},
        {"item_id": "b", "source": "t", "score": 0.25, "position": None, "propensity": 0.125},
    ]
    columns = {
        "item_id": ["a", "b"],
        "source": ("s", "t"),
        "score": np.array([0.5, 0.25]),
        "position": [0, None],
        "propensity": np.array([0.75, 0.125], dtype=np.float32),
    }
    with RequestLogger(tmp_path, writer=writer) as logger:
        logger.log(**request(0, candidates=rows))
        logger.log(**request(1, candidates=columns))
        logger.log(**request(2, candidates={"item_id": ["a"]}))  # the other fields missing
        logger.log(**request(3, candidates={"item_id": ["a", "b"], "score": [0.5]}))  # lengths differ
        logger.log(**request(4, candidates={"source": ["s"]}))  # no item_id column
    # spooled as sent; ingest refuses the last two, naming the field
    assert logger.stats == LoggerStats(logged=5, written=5, files=1)
    assert refused(tmp_path) == {"r3": "candidates", "r4": "candidates"}
    by_id = {r["request_id"]: r["candidates"] for r in good_rows(tmp_path)}
    assert by_id["r0"] == by_id["r1"] == rows
    missing = {"source": None, "score": None, "position": None, "propensity": None}
    assert by_id["r2"] == [{"item_id": "a", **missing}]


def test_non_finite_numbers_are_missing_values_but_a_non_finite_time_is_an_error(
    tmp_path: Path, writer: str
) -> None:
    nan, inf = float("nan"), float("inf")
    with RequestLogger(tmp_path, writer=writer) as logger:
        logger.log(
            **request(
                0,
                features={"ctr": nan, "age": inf, "genre": "drama"},
                candidates=[{"item_id": "a", "source": "s", "score": nan, "position": 0}],
            )
        )
        logger.log(**request(1, ts=inf))
    assert logger.stats == LoggerStats(logged=2, written=2, files=1)
    assert refused(tmp_path) == {"r1": "ts"}
    [row] = good_rows(tmp_path)
    assert row["features"] == [("ctr", None), ("age", None)]
    assert row["feature_strings"] == [("genre", "drama")]
    assert row["candidates"][0]["score"] is None


def test_numpy_string_columns_and_records_json_refuses_keep_non_finite_numbers_missing(
    tmp_path: Path, writer: str
) -> None:
    np = pytest.importorskip("numpy")

    class Depth(float):  # a local class: JSON refuses it, so the record is copied instead
        pass

    nan, inf = float("nan"), float("inf")
    columns = {"item_id": np.array(["a", "b"]), "source": np.array(["s", "t"]), "score": np.array([nan, inf])}
    with RequestLogger(tmp_path, writer=writer) as logger:
        logger.log(**request(0, candidates=columns))
        logger.log(**request(1, features={"depth": Depth(2.0), "ctr": nan}, candidates=columns))
    assert logger.stats == LoggerStats(logged=2, written=2, files=2)
    rows = sorted(read_rows(tmp_path), key=lambda r: r["request_id"])
    for row in rows:
        assert [(c["item_id"], c["source"], c["score"]) for c in row["candidates"]] == [
            ("a", "s", None),
            ("b", "t", None),
        ]
    assert rows[1]["features"] == [("depth", 2.0), ("ctr", None)]


def test_log_arguments_are_the_contract_fields() -> None:
    for cls, kind in ((RequestLogger, REQUESTS), (OutcomeLogger, OUTCOMES)):
        parameters = set(inspect.signature(cls.log).parameters) - {"self"}
        assert parameters == {f.name for f in kind.fields}
        required = {
            name
            for name, p in inspect.signature(cls.log).parameters.items()
            if p.default is inspect.Parameter.empty and name != "self"
        }
        # the time column defaults to now; every other required field must be given
        assert required == {f.name for f in kind.fields if f.required} - {kind.time_column}


def test_outcomes_are_logged_the_same_way(tmp_path: Path, writer: str) -> None:
    with OutcomeLogger(tmp_path, writer=writer) as logger:
        logger.log(request_id="r1", item_id="a", event="click", ts=utc(2026, 11, 24, 12))
        logger.log(request_id="r1", item_id="a", event="play", value=312.5)
    rows = read_rows(tmp_path, OUTCOMES.schema)
    assert rows[0] == {
        "request_id": "r1",
        "item_id": "a",
        "ts": utc(2026, 11, 24, 12),
        "event": "click",
        "value": None,
    }
    assert rows[1]["event"] == "play" and rows[1]["value"] == 312.5
    assert visible_files(tmp_path)[0].name.startswith("outcomes-")


def test_any_kind_can_be_logged_from_a_mapping(tmp_path: Path, writer: str) -> None:
    with RecordLogger(tmp_path, "changes", writer=writer) as logger:
        logger.log_record({"kind": "deploy", "target": "ranker", "version": "v13"})
        logger.log_record({"kind": "deploy", "target": "ranker", "verison": "v14"})  # typo
    assert logger.stats == LoggerStats(logged=1, written=1, files=1, errors=1)
    [row] = read_rows(tmp_path, CHANGES.schema)
    assert (row["kind"], row["target"], row["version"], row["actor"]) == ("deploy", "ranker", "v13", None)


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path, writer: str) -> None:
    logger = RequestLogger(tmp_path, max_queue=5, chunk_size=1, flush_interval_s=60, writer=writer)
    entered, release = threading.Event(), threading.Event()
    real_take = logger._take_queued

    def stalled_take() -> None:
        entered.set()
        release.wait(30)
        real_take()

    logger._take_queued = stalled_take  # type: ignore[method-assign]
    logger.log(**request(0))  # wakes the flusher, which then stalls
    assert entered.wait(10)
    slowest = 0.0
    for i in range(1, 101):
        start = time.perf_counter()
        logger.log(**request(i))
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 1.0  # never waits for the flusher (stalled for up to 30 s)
    assert logger.stats == LoggerStats(logged=5, dropped=96)
    release.set()
    logger.close()
    assert logger.stats == LoggerStats(logged=5, dropped=96, written=5, files=1)
    assert sorted(r["request_id"] for r in read_rows(tmp_path)) == [f"r{i}" for i in range(5)]


def test_close_flushes_and_later_records_are_dropped(tmp_path: Path, writer: str) -> None:
    logger = RequestLogger(tmp_path, batch_size=1000, flush_interval_s=3600, writer=writer)
    for i in range(10):
        logger.log(**request(i))
    time.sleep(0.05)
    assert visible_files(tmp_path) == []
    logger.close()
    assert len(read_rows(tmp_path)) == 10
    logger.close()  # idempotent
    logger.log(**request(99))
    assert logger.stats == LoggerStats(logged=10, dropped=1, written=10, files=1)


def test_batch_size_and_interval_trigger_flushes(tmp_path: Path, writer: str) -> None:
    by_size = RequestLogger(tmp_path / "size", batch_size=10, flush_interval_s=3600, writer=writer)
    by_time = RequestLogger(tmp_path / "time", batch_size=1000, flush_interval_s=0.1, writer=writer)
    try:
        for i in range(10):
            by_size.log(**request(i))
            by_time.log(**request(i))
        wait_for(lambda: by_size.stats.written == 10)
        wait_for(lambda: by_time.stats.written == 10)
        assert len(visible_files(tmp_path / "size")) == len(visible_files(tmp_path / "time")) == 1
    finally:
        by_size.close()
        by_time.close()


def test_files_hold_at_most_batch_size_records(tmp_path: Path, writer: str) -> None:
    logger = RequestLogger(tmp_path, batch_size=4, flush_interval_s=3600, chunk_size=3, writer=writer)
    for i in range(10):
        logger.log(**request(i))
    logger.close()
    sizes = sorted(pq.read_metadata(p).num_rows for p in visible_files(tmp_path))
    assert sum(sizes) == 10 and max(sizes) <= 4
    assert len({p.name for p in visible_files(tmp_path)}) == logger.stats.files


def test_no_partial_file_is_ever_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    written_to: list[str] = []

    class SlowParquetWriter(pq.ParquetWriter):  # type: ignore[misc]
        def __init__(self, where: Any, *args: Any, **kwargs: Any) -> None:
            written_to.append(Path(where).name)
            super().__init__(where, *args, **kwargs)

        def close(self) -> None:
            super().close()
            time.sleep(0.01)  # a window in which a reader would see a finished temp file

    if writer == "thread":  # the writer process does not see the patch
        monkeypatch.setattr(pq, "ParquetWriter", SlowParquetWriter)
    logger = RequestLogger(tmp_path, batch_size=20, flush_interval_s=3600, writer=writer)
    seen: set[str] = set()
    stop = threading.Event()
    failures: list[str] = []

    def watch() -> None:
        while not stop.is_set():
            for path in visible_files(tmp_path):
                if path.name.endswith(".tmp"):
                    failures.append(f"{path.name} visible")
                elif path.name not in seen:
                    try:
                        assert read_spool_file(path).schema.equals(REQUESTS.schema)
                        seen.add(path.name)
                    except Exception as exc:
                        failures.append(f"{path.name}: {exc!r}")

    watcher = threading.Thread(target=watch)
    watcher.start()
    for i in range(200):
        logger.log(**request(i))
        if i % 20 == 0:
            time.sleep(0.005)
    logger.close()
    stop.set()
    watcher.join()
    assert failures == []
    if writer == "thread":
        assert written_to and all(n.startswith(".") and n.endswith(".tmp") for n in written_to)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in visible_files(tmp_path)
    )  # no temp file left behind
    assert len(read_rows(tmp_path)) == 200


def test_the_flusher_survives_bad_records(
    tmp_path: Path, writer: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = RequestLogger(tmp_path, batch_size=1000, flush_interval_s=3600, writer=writer)
    with caplog.at_level(logging.WARNING, logger="recops.sdk"):
        logger.log(**request(0))
        logger.log(**request(1, latency_ms="fast"))  # not a number
        logger.log(**request(2, candidates=[{"item_id": "a", "position": "top"}]))
        logger.log(**request(3, surface=None))  # a required field missing
        logger.log(**request(4, ts=True))  # not a time
        logger.log(**request(4, ts=float("nan")))
        logger.log(**request(4, feature_ts={"user_profile": "yesterday"}))
        logger.log(**request(4, context=["device", "tv"]))  # not a mapping
        logger.log(**request(5))
        logger.flush()
        logger.log(**request(6))
        logger.close()
    # all spooled as sent: ingest refuses the bad ones, naming the field (a missing
    # required value is converted to a null, which ingest's rules refuse)
    assert logger.stats == LoggerStats(logged=10, written=10, files=2)
    assert refused(tmp_path) == {
        "r1": "latency_ms",
        "r2": "candidates.position",
        "r4": "context",  # the last of four bad r4 records: ts, ts, feature_ts, context
    }
    assert sorted(r["request_id"] for r in good_rows(tmp_path)) == ["r0", "r3", "r5", "r6"]
    assert next(r for r in good_rows(tmp_path) if r["request_id"] == "r3")["surface"] is None
    assert not [r for r in caplog.records if "cannot be stored" in r.getMessage()]


def test_a_failed_write_is_counted_and_the_next_one_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    class FailingOnce(pq.ParquetWriter):  # type: ignore[misc]
        def write_table(self, table: pa.Table, *args: Any, **kwargs: Any) -> None:
            calls.append(1)
            if len(calls) == 1:  # the file is open, with its header written: a partial file
                raise OSError("disk full")
            super().write_table(table, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetWriter", FailingOnce)
    logger = RequestLogger(tmp_path, flush_interval_s=3600, writer="thread")
    logger.log(**request(0))
    logger.flush()
    logger.log(**request(1))
    logger.close()
    assert logger.stats == LoggerStats(logged=2, written=1, files=1, errors=1)
    assert [p.name.startswith("requests-") for p in tmp_path.iterdir()] == [True]


def test_pending_records_are_written_at_interpreter_exit(tmp_path: Path, writer: str) -> None:
    script = (
        "from recops.sdk import RequestLogger\n"
        f"logger = RequestLogger({str(tmp_path)!r}, batch_size=10**6, flush_interval_s=3600,\n"
        f"                       writer={writer!r})\n"
        "for i in range(100):\n"
        "    logger.log(request_id=f'r{i}', surface='s', user_id='u', model='m',\n"
        "               model_version='v', status='ok', latency_ms=1.0, candidates=[])\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(read_rows(tmp_path)) == 100


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_queue_and_flusher(tmp_path: Path, writer: str) -> None:
    logger = RequestLogger(tmp_path, batch_size=1000, flush_interval_s=3600, writer=writer)
    logger.log(**request(0))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            logger.log(**request(1))
            logger.close()
            code = 0 if logger.stats == LoggerStats(logged=1, written=1, files=1) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    logger.close()
    assert sorted(r["request_id"] for r in read_rows(tmp_path)) == ["r0", "r1"]
    assert len({p.name.split("-")[2] for p in visible_files(tmp_path)}) == 2  # two pids


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_spool_files_are_compressed_as_asked_and_read_back_the_same(
    tmp_path: Path, writer: str, compression: str
) -> None:
    with RequestLogger(tmp_path, writer=writer, compression=compression) as logger:  # type: ignore[arg-type]
        for i in range(50):
            logger.log(**request(i))
    [path] = visible_files(tmp_path)
    codecs = {pq.read_metadata(path).row_group(0).column(0).compression}
    assert codecs == {"UNCOMPRESSED" if compression == "none" else "ZSTD"}
    assert sorted(row["request_id"] for row in read_rows(tmp_path)) == sorted(f"r{i}" for i in range(50))


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        RequestLogger(tmp_path, sample_rate=1.5)
    with pytest.raises(ValueError, match="request_id"):
        RecordLogger(tmp_path, "changes", sample_rate=0.5)
    with pytest.raises(ValueError, match="max_queue"):
        RequestLogger(tmp_path, max_queue=0)
    with pytest.raises(ValueError, match="writer"):
        RequestLogger(tmp_path, writer="fork")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="compression"):
        RequestLogger(tmp_path, compression="gzip")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="unknown record kind"):
        RecordLogger(tmp_path, "clicks")


def test_records_json_holds_are_spooled_packed_and_never_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    # Converting a request with 20 candidates takes tens of µs; the serving host never
    # pays it (decision 0056): the files hold the packed JSON, which ingest converts.
    conversions: list[int] = []
    build_batch = packed.build_batch

    def recording_build_batch(*args: Any, **kwargs: Any) -> Any:
        conversions.append(threading.get_ident())
        return build_batch(*args, **kwargs)

    monkeypatch.setattr(packed, "build_batch", recording_build_batch)
    candidates = [
        {"item_id": f"i{j}", "source": "collaborative", "score": 0.5, "position": j} for j in range(20)
    ]
    with RequestLogger(tmp_path, writer=writer, batch_size=500) as logger:
        for i in range(3000):
            logger.log(**request(i, candidates=candidates, features={"a": 1.0}))
        logger.flush()
    assert conversions == []
    assert logger.stats.written == 3000
    files = visible_files(tmp_path)
    assert {pq.read_schema(p).names[0] for p in files} == {"record"}
    assert sum(pq.read_metadata(p).num_rows for p in files) == 3000
    assert len(read_rows(tmp_path)) == 3000


def test_the_loggers_are_exported() -> None:
    assert sorted(recops.sdk.__all__) == recops.sdk.__all__
    exported = {"LoggerOptions", "LoggerStats", "OutcomeLogger", "RecordLogger", "RequestLogger", "keep"}
    assert exported <= set(recops.sdk.__all__)  # tests/test_public_api.py checks the exact list


def test_numbers_in_a_map_of_strings_are_stored_as_json_ingest_would(tmp_path: Path, writer: str) -> None:
    with RequestLogger(tmp_path, writer=writer) as logger:
        logger.log(**request(0, context={"device": "tv", "app_version": 8.1, "kids": True, "build": 12}))
    [row] = read_rows(tmp_path)
    assert row["context"] == [("device", "tv"), ("app_version", "8.1"), ("kids", "true"), ("build", "12")]


# ------------------------------------------------------------- the writer process


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_writer(logger: RecordLogger, *, restarted: bool) -> int:
    """SIGKILL the logger's writer process, wait until it is replaced (or not); return its pid."""
    pid = logger.writer_pid
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    if restarted:
        wait_for(lambda: logger.writer_pid not in (pid, None))
    else:
        wait_for(lambda: logger.writer_pid is None)
    return pid


def log_until_shipped(logger: RecordLogger, records: range) -> None:
    """Log records and wait until the flusher has sent them to the writer process."""
    child = logger._child
    assert child is not None
    sent = child.sent
    for i in records:
        logger.log(**request(i))  # type: ignore[attr-defined]
    wait_for(lambda: child.sent == sent + len(records))


def test_the_writer_process_writes_exactly_what_the_thread_writes(tmp_path: Path) -> None:
    calls = [
        request(
            i,
            ts=1764000000000 + i,
            stage_latency_ms={"ranking": float(i)},
            context={"device": "tv", "build": i},
            features={"ctr": i / 100, "genre": "drama"} if i % 3 else None,
            feature_ts={"user_profile": utc(2026, 11, 24)},
        )
        for i in range(300)
    ]
    tables = {}
    for writer in ("process", "thread"):
        with RequestLogger(tmp_path / writer, batch_size=128, chunk_size=16, writer=writer) as logger:
            if writer == "process":
                assert logger.writer_pid not in (None, os.getpid())
            else:
                assert logger.writer_pid is None
            for kwargs in calls:
                logger.log(**kwargs)
        assert logger.stats == LoggerStats(logged=300, written=300, files=3)
        paths = visible_files(tmp_path / writer)
        assert [pq.read_metadata(p).num_rows for p in paths] == [128, 128, 44]
        assert all(f"-{os.getpid()}-" in p.name for p in paths)  # named after the host
        table = pa.concat_tables(read_spool_file(p) for p in paths)
        assert table.schema.equals(REQUESTS.schema)  # exactly, with nullability
        tables[writer] = table
    assert tables["process"].equals(tables["thread"])
    assert tables["process"].column("request_id").to_pylist() == [f"r{i}" for i in range(300)]


def test_close_flushes_everything_through_the_writer_process(tmp_path: Path) -> None:
    logger = RequestLogger(tmp_path, batch_size=10**6, flush_interval_s=3600)
    log_until_shipped(logger, range(500))
    pid = logger.writer_pid
    assert pid is not None
    assert visible_files(tmp_path) == []  # in the writer, waiting for its file
    assert logger.stats == LoggerStats(logged=500)
    for i in range(500, 1000):
        logger.log(**request(i))  # some still queued in the host
    logger.close()
    assert logger.stats == LoggerStats(logged=1000, written=1000, files=1)
    assert sorted(r["request_id"] for r in read_rows(tmp_path)) == sorted(f"r{i}" for i in range(1000))
    assert not pid_exists(pid)  # exited and reaped
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in visible_files(tmp_path)]


def test_flush_waits_for_the_writer_process(tmp_path: Path) -> None:
    with RequestLogger(tmp_path, batch_size=10**6, flush_interval_s=3600) as logger:
        for i in range(20):
            logger.log(**request(i))
        logger.flush()
        assert logger.stats == LoggerStats(logged=20, written=20, files=1)
        assert len(read_rows(tmp_path)) == 20


def test_a_killed_writer_is_counted_and_restarted_once_then_the_host_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = RequestLogger(tmp_path, batch_size=10**6, flush_interval_s=3600)
    with caplog.at_level(logging.WARNING, logger="recops.sdk"):
        for i in range(10):
            logger.log(**request(i))
        logger.flush()  # r0-r9 written
        log_until_shipped(logger, range(10, 30))  # in the writer, not written yet
        first = kill_writer(logger, restarted=True)
        assert logger.stats == LoggerStats(logged=30, written=10, files=1, errors=20)

        log_until_shipped(logger, range(30, 40))  # to the second writer process
        second = kill_writer(logger, restarted=False)
        assert logger.writer_pid is None  # no third: written in this process
        assert logger.stats == LoggerStats(logged=40, written=10, files=1, errors=30)

        for i in range(40, 50):
            logger.log(**request(i))  # never raises into the caller
        logger.close()
    assert logger.stats == LoggerStats(logged=50, written=20, files=2, errors=30)
    ids = sorted(int(r["request_id"][1:]) for r in read_rows(tmp_path))
    assert ids == [*range(10), *range(40, 50)]
    assert not pid_exists(first) and not pid_exists(second)
    warnings = [r.getMessage() for r in caplog.records if "writer process" in r.getMessage()]
    assert len(warnings) == 2  # once restarted, once falling back
    assert "20 records" in warnings[0] and "starting another" in warnings[0]
    assert "writing in this process" in warnings[1]


def test_a_writer_killed_while_logging_never_blocks_or_raises(tmp_path: Path) -> None:
    logger = RequestLogger(tmp_path, batch_size=50, flush_interval_s=0.05, max_queue=10**6)
    stop = threading.Event()
    slowest = [0.0]

    def log_forever() -> None:
        i = 0
        while not stop.is_set():
            start = time.perf_counter()
            logger.log(**request(i))
            slowest[0] = max(slowest[0], time.perf_counter() - start)
            i += 1
            if i % 50 == 0:
                time.sleep(0.001)

    thread = threading.Thread(target=log_forever)
    thread.start()
    try:
        wait_for(lambda: logger.stats.written > 0)
        kill_writer(logger, restarted=True)
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    # as long as it takes: on a loaded machine the restarted writer (a batch-priority
    # process) may need more than close()'s default 30 s for the backlog, which it then
    # writes after close() returns; the accounting below needs it done
    logger.close(timeout_s=None)
    stats = logger.stats
    assert stats.written + stats.errors == stats.logged and stats.dropped == 0
    assert stats.written == len(read_rows(tmp_path)) and stats.files == len(visible_files(tmp_path))
    assert slowest[0] < 0.25  # no wait on the writer restart (the bound leaves room for a loaded machine)


def test_a_failed_write_in_the_writer_process_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    logger = RequestLogger(spool, flush_interval_s=3600)
    with caplog.at_level(logging.WARNING, logger="recops.sdk"):
        logger.log(**request(0))
        spool.rmdir()  # the writer cannot write its file there any more
        logger.flush()
        spool.mkdir()
        logger.log(**request(1))
        logger.close()
    assert logger.stats == LoggerStats(logged=2, written=1, files=1, errors=1)
    assert [r["request_id"] for r in read_rows(spool)] == ["r1"]
    assert any("could not write" in r.getMessage() for r in caplog.records)


def test_the_writer_process_finishes_when_its_host_is_killed(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys, time\n"
        "from recops.sdk import RequestLogger\n"
        f"logger = RequestLogger({str(tmp_path)!r}, batch_size=10**6, flush_interval_s=3600)\n"
        "for i in range(100):\n"
        "    logger.log(request_id=f'r{i}', surface='s', user_id='u', model='m',\n"
        "               model_version='v', status='ok', latency_ms=1.0, candidates=[])\n"
        "while logger._child is None or logger._child.sent < 100:\n"
        "    time.sleep(0.01)\n"
        "logger._io_lock.acquire()  # the flusher has finished writing the frame into the pipe\n"
        "print(logger.writer_pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no close()\n"
    )
    host = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert host.returncode == -signal.SIGKILL
    pid = int(host.stdout)
    wait_for(lambda: not pid_exists(pid))
    assert sorted(r["request_id"] for r in read_rows(tmp_path)) == sorted(f"r{i}" for i in range(100))


def test_a_file_is_written_one_row_group_at_a_time(tmp_path: Path, writer: str) -> None:
    rows = 2 * _spool.ROW_GROUP_ROWS + 10
    with RequestLogger(tmp_path, batch_size=10_000, flush_interval_s=3600, writer=writer) as logger:
        for i in range(rows):
            logger.log(**request(i))
    (path,) = visible_files(tmp_path)
    metadata = pq.read_metadata(path)
    sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    assert sizes == [_spool.ROW_GROUP_ROWS, _spool.ROW_GROUP_ROWS, 10]
    assert [row["request_id"] for row in read_rows(tmp_path)] == [f"r{i}" for i in range(rows)]


def test_pacing_sleeps_only_once_a_run_has_lasted_its_hold() -> None:
    always = _spool.Pacing(hold_s=0.0, pause_s=0.002).pauser()
    start = time.perf_counter()
    for _ in range(10):
        always()
    assert time.perf_counter() - start >= 10 * 0.002  # a pause at every call
    never = _spool.Pacing(hold_s=60.0, pause_s=60.0).pauser()
    start = time.perf_counter()
    for _ in range(10_000):
        never()
    assert time.perf_counter() - start < 5.0  # no pause within a run shorter than the hold


def test_the_writer_process_is_paced_as_the_logger_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []
    real_send = WriterProcess.send

    def send(self: WriterProcess, kind: bytes, payload: bytes = b"", records: int = 0) -> None:
        if kind == b"H":
            seen.append(pickle.loads(payload))
        real_send(self, kind, payload, records)

    monkeypatch.setattr(WriterProcess, "send", send)
    with RequestLogger(tmp_path / "paced") as logger:
        logger.log(**request(0))
    monkeypatch.setattr(logger_module, "WRITER_PACING", None)
    with RequestLogger(tmp_path / "unpaced") as logger:
        logger.log(**request(1))
    assert [s.pacing for s in seen] == [PACING, None]
    assert PACING.hold_s <= 0.001 and PACING.pause_s > 0
    assert len(read_rows(tmp_path / "paced")) == len(read_rows(tmp_path / "unpaced")) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="scheduling policies: Linux")
def test_every_thread_of_the_writer_process_runs_as_idle_work(tmp_path: Path) -> None:
    # A waking service thread always preempts SCHED_IDLE work, and its CPU counts as idle
    # when the scheduler places one (decision 0056); a pyarrow thread left at the host's
    # priority did a third of the writer's work before every thread was lowered.
    with RequestLogger(tmp_path, writer="process") as logger:
        logger.log(**request(0))
        logger.flush()
        pid = logger.writer_pid
        assert pid is not None
        policies = {
            tid: int(open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[38])
            for tid in os.listdir(f"/proc/{pid}/task")
        }
    assert set(policies.values()) == {5}, policies  # SCHED_IDLE


def test_pipe_writes_gather_parts_in_pieces_and_keep_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts larger than a piece, more parts than one writev takes, and tiny ones: the bytes arrive in order.

    Each ``writev`` (the real one, watched) takes at most ``WRITEV_PARTS`` buffers and
    ``PIPE_PIECE`` bytes, a part larger than that being cut into pieces.
    """
    calls: list[list[int]] = []
    views: list[int] = []  # the sizes of parts passed as memory views, not as themselves
    real_writev = os.writev

    def watched(fd: int, buffers: list[bytes]) -> int:
        calls.append([len(b) for b in buffers])
        views.extend(len(b) for b in buffers if isinstance(b, memoryview))
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", watched)
    sizes = [_writer.PIPE_PIECE * 2 + 5, *([3] * (_writer.WRITEV_PARTS + 7)), 1, _writer.PIPE_PIECE, 700]
    parts = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    read_end, write_end = os.pipe()
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        _writer._write_parts(write_end, parts)
    finally:
        os.close(write_end)
        reader.join(timeout=30)
        os.close(read_end)
    assert bytes(received) == b"".join(parts)
    assert all(len(c) <= _writer.WRITEV_PARTS for c in calls)
    assert all(sum(c) <= _writer.PIPE_PIECE for c in calls)
    assert sum(map(sum, calls)) == sum(sizes)
    # only the part larger than a piece was cut (the collector counts every view made)
    assert views == [_writer.PIPE_PIECE, _writer.PIPE_PIECE, 5]
