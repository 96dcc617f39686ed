"""Benchmark: ``recops trace`` on a large lake, beside the floor of finding the request at all.

Issue 7's target: the whole ``recops trace`` command, from a warm workspace (files in the
page cache, store migrated), in under 1 second over 10M logged requests.

The lake is simulated by ``recops.sim``, one world per day (``--per-day`` requests each,
seed and start date per day, so request ids never collide), written as Parquet and
ingested into one workspace, cached under ~/.cache/recops-bench/trace/<per-day>/ and
extended day by day (``--days 1`` then ``--days 5`` reuses the first day). Then, as
whole processes (interpreter start, imports, store, DuckDB, output):

* floor: a plain DuckDB scan that answers "is this request id in the lake" over every
  ``requests`` file the catalog lists (``SELECT count(*) ... WHERE request_id = ...``:
  the one column a lookup by an id that carries no time must read), timed inside the
  process and as a process;
* ``recops trace REQUEST_ID --json`` for a request of the newest, a middle and the oldest
  day (the newest-first search stops early for recent requests), each served around
  01:00 UTC, so that its 24-hour outcome window spans most of a day of outcomes;
* ``recops trace --user U --at T --json`` (partitions pruned by time first);
* ``recops trace`` of an unknown id (the worst case: every partition is searched; exit 2);
* startup: a process that only imports what ``recops trace`` imports (the part of every
  case that no lake changes).

With ``--bloom`` the same runs are repeated on a copy of the lake whose requests and
outcomes files carry Parquet Bloom filters on ``request_id`` (and ``user_id``): what the
lake would hold if ``recops.lake.layout.write_parquet`` wrote them (see ``bloom_copy``).
With ``--registered`` they are repeated on a copy of the store in which the model versions
that served the traced requests are registered (``registered_copy``: a training dataset
with a month of upstream partitions, aliases moved around the lake's days): the simulated
lake has no registry, and a registered version's lineage and alias history are read
(in plain SQL, ``recops.registry.reads``, like the catalog).

Times are medians of ``--repeat`` runs after one warm-up run each; the machine is
shared, so the ratio to the floor measured in the same run matters more than seconds.

    .venv/bin/python bench/trace.py                   # 2M requests a day, 1 day
    .venv/bin/python bench/trace.py --days 5 --bloom  # 10M requests, and with Bloom filters
    .venv/bin/python bench/trace.py --days 5 --registered  # and with the traced versions registered
    .venv/bin/python bench/trace.py --per-day 200000 --days 2 --json   # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PYTHON = Path(sys.executable)
CACHE = Path.home() / ".cache" / "recops-bench" / "trace"
KINDS = ["requests", "outcomes", "feature_rows", "arrivals", "changes"]
FIRST_DAY = date(2026, 10, 5)


def build(per_day: int, days: int, folder: Path) -> Path:
    """Simulate, write and ingest the days not built yet; returns the workspace folder."""
    from recops.ingest import ingest_files
    from recops.sim import SimConfig, simulate
    from recops.workspace import Workspace

    workspace = folder / "ws"
    if not (workspace / "recops.toml").exists():
        shutil.rmtree(folder, ignore_errors=True)
        Workspace.init(workspace).close()
    for day in range(days):
        marker = folder / f"day-{day}.done"
        if marker.exists():
            continue
        started = time.perf_counter()
        raw = folder / f"raw-{day}"
        shutil.rmtree(raw, ignore_errors=True)
        start = (FIRST_DAY + timedelta(days=day)).isoformat()
        print(f"simulating day {day + 1}/{days} ({start}, {per_day:,} requests)", file=sys.stderr)
        world = simulate(
            SimConfig(seed=500 + day, start=start, days=1, requests_per_day=per_day, incidents=[])
        )
        world.write(raw, fmt="parquet")
        del world
        with Workspace.open(workspace) as ws:
            for kind in KINDS:
                if (raw / kind).exists():
                    ingest_files(ws.lake, kind, [raw / kind])
        shutil.rmtree(raw)
        marker.touch()
        print(f"  built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return workspace


def _fresh_copy(workspace: Path, target: Path) -> Path | None:
    """A new ``target/ws`` holding the workspace's config and store, or None when
    ``target`` is already complete (its ``done`` marker)."""
    if (target / "done").exists():
        return None
    shutil.rmtree(target, ignore_errors=True)
    copy = target / "ws"
    copy.mkdir(parents=True)
    shutil.copy(workspace / "recops.toml", copy / "recops.toml")
    shutil.copy(workspace / "recops.db", copy / "recops.db")
    return copy


def bloom_copy(workspace: Path, target: Path) -> Path:
    """The workspace with its requests and outcomes files rewritten with Parquet Bloom filters.

    What ``recops.lake.layout.write_parquet`` would write with ``bloom_filter_options`` on
    ``request_id`` (both kinds) and ``user_id`` (requests): the same rows, row groups,
    compression and dictionaries, plus a Bloom filter per row group, which DuckDB checks
    for an equality filter before reading the row group. Other kinds are linked. The
    store is copied, so the catalog lists the same relative paths.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recops.lake.layout import ROW_GROUP_ROWS, dictionary_columns
    from recops.workspace import Workspace

    copy = _fresh_copy(workspace, target)
    if copy is None:
        return target / "ws"
    blooms = {
        "requests": {"request_id": ROW_GROUP_ROWS, "user_id": ROW_GROUP_ROWS},
        # about ten outcomes per request, and a row group holds a stretch of time
        "outcomes": {"request_id": ROW_GROUP_ROWS // 8},
    }
    with Workspace.open(workspace) as ws:
        for kind in KINDS:
            for row in ws.lake.catalog.live_file_rows(kind):
                source, dest = ws.lake.data_dir / row.path, copy / "data" / row.path
                dest.parent.mkdir(parents=True, exist_ok=True)
                if kind not in blooms:
                    dest.symlink_to(source)
                    continue
                print(f"  rewriting {row.path} with Bloom filters", file=sys.stderr)
                parquet = pq.ParquetFile(source)
                options = {c: {"ndv": n, "fpp": 0.01} for c, n in blooms[kind].items()}
                schema = parquet.schema_arrow
                with pq.ParquetWriter(
                    dest,
                    schema,
                    compression="zstd",
                    use_dictionary=dictionary_columns(schema),
                    bloom_filter_options=options,
                ) as writer:
                    for batch in parquet.iter_batches(batch_size=ROW_GROUP_ROWS):
                        writer.write_table(
                            pa.Table.from_batches([batch], schema), row_group_size=ROW_GROUP_ROWS
                        )
    (target / "done").touch()
    return copy


def registered_copy(workspace: Path, target: Path, versions: set[tuple[str, str]]) -> Path:
    """The workspace with ``versions`` (model, version) registered, in a copy of its store.

    Each version is trained on a declared dataset built from the 30 daily partitions of
    ``play_events`` before the lake's first day; ``production`` names them in turn from the
    day before it, ``canary`` in turn during the first half of it (a history for the trace
    to read). The data folder is linked, so the copy's catalog lists the same files.
    """
    from datetime import UTC, datetime

    from recops.registry import declared_dataset, register_version, remove_alias, set_alias
    from recops.workspace import Workspace

    copy = _fresh_copy(workspace, target)
    if copy is None:
        return target / "ws"
    (copy / "data").symlink_to(workspace / "data")
    first = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    upstream = [f"play_events:{(FIRST_DAY - timedelta(days=d)).isoformat()}" for d in range(30, 0, -1)]
    ordered = sorted(versions)
    with Workspace.open(copy) as ws:
        for i, (model, version) in enumerate(ordered):
            dataset = declared_dataset(
                f"s3://bench/train/{model}/{version}",
                digest=f"sha256:{i:064x}",
                rows=10_000_000,
                upstream=upstream,
            )
            register_version(
                ws.store,
                model=model,
                version=version,
                artifact_uri=f"s3://bench/{model}/{version}",
                datasets=[dataset],
                created_at=first - timedelta(days=2) + timedelta(hours=i),
            )
        for alias, start, step in (("production", first - timedelta(days=1), 1), ("canary", first, 3)):
            for i, (model, version) in enumerate(ordered):
                set_alias(ws.store, model, alias, version, at=start + timedelta(hours=step * i))
        for model in sorted({m for m, _ in ordered}):
            remove_alias(ws.store, model, "canary", at=first + timedelta(hours=12))
    (target / "done").touch()
    return copy


MISSING_ID = "req_8000000000000000"  # in the middle of the ids' range: min/max statistics cannot skip it

SAMPLE_CODE = """
import json, sys
from recops.workspace import Workspace
with Workspace.open(sys.argv[1]) as ws:
    files = {r.date: [] for r in ws.lake.catalog.live_file_rows("requests")}
    con = ws.lake.connect()
    dates = sorted(files)
    out = {"requests": con.execute("SELECT count(*) FROM requests").fetchone()[0], "dates": dates}
    out["missing_present"] = con.execute(
        "SELECT count(*) FROM requests WHERE request_id = ?", [sys.argv[2]]
    ).fetchone()[0]
    for name, d in (("newest", dates[-1]), ("middle", dates[len(dates) // 2]), ("oldest", dates[0])):
        # early in the day: its outcome window (24 h) spans the most outcome rows
        rid, user, ts, model, version = con.execute(
            "SELECT request_id, user_id, strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ'), model, model_version "
            "FROM requests WHERE ts::DATE = ?::DATE AND hour(ts) = 1 ORDER BY hash(request_id) LIMIT 1", [d]
        ).fetchone()
        out[name] = {"request_id": rid, "user_id": user, "ts": ts, "model": [model, version]}
print(json.dumps(out))
"""

FLOOR_CODE = """
import json, sys, time
import duckdb
from recops.workspace import Workspace
from recops.lake.engine import file_list_sql
started = time.perf_counter()
with Workspace.open(sys.argv[1]) as ws:
    files = ws.lake.catalog.live_files("requests")
con = duckdb.connect()
n = con.execute(
    f"SELECT count(*) FROM read_parquet({file_list_sql(files)}) WHERE request_id = '{sys.argv[2]}'"
).fetchone()[0]
print(json.dumps({"found": n, "seconds": time.perf_counter() - started}))
"""


STARTUP_CODE = "import recops.cli.main, recops.cli.trace"


def run_once(command: list[str]) -> dict[str, Any]:
    """Wall and CPU (user + system) seconds, peak RSS and output of a command that may exit 2 (not found).

    CPU seconds say what the command costs on a shared machine, where wall time also
    counts the waits for a core; DuckDB's parallel scans can make them exceed the wall time.
    """
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M %U %S", "-o", stats.name, *command], capture_output=True, text=True
        )
        elapsed, rss, user, system = Path(stats.name).read_text().split()[-4:]
    if done.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {
        "seconds": float(elapsed),
        "cpu_seconds": float(user) + float(system),
        "peak_mib": int(rss) / 1024,
        "stdout": done.stdout,
        "code": done.returncode,
    }


def median_run(command: list[str], repeat: int) -> dict[str, Any]:
    """One warm-up run, then the median wall time of ``repeat`` runs (and the last output)."""
    run_once(command)
    runs = [run_once(command) for _ in range(repeat)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "stdout": runs[-1]["stdout"],
        "code": runs[-1]["code"],
    }


def measure(workspace: Path, sample: dict[str, Any], repeat: int, registered: bool = False) -> dict[str, Any]:
    """The floor and every trace case on one workspace (whose traced versions are ``registered`` or not)."""
    newest = sample["newest"]["request_id"]
    floor = median_run([str(PYTHON), "-c", FLOOR_CODE, str(workspace), newest], repeat)
    recops = [str(PYTHON), "-m", "recops.cli", "trace", "-w", str(workspace), "--json"]
    cases: dict[str, tuple[list[str], str | None]] = {
        f"request_id, {which} day": ([*recops, sample[which]["request_id"]], sample[which]["request_id"])
        for which in ("newest", "middle", "oldest")
    }
    middle = sample["middle"]
    cases["--user --at, middle day"] = (
        [*recops, "--user", middle["user_id"], "--at", middle["ts"]],
        middle["request_id"],
    )
    cases["unknown request_id (every partition)"] = ([*recops, MISSING_ID], None)
    out: dict[str, Any] = {
        "floor": {
            "process_seconds": floor["seconds"],
            "process_cpu_seconds": floor["cpu_seconds"],
            "scan_seconds": json.loads(floor["stdout"])["seconds"],
        },
        "trace": {},
    }
    for name, (command, expected) in cases.items():
        run = median_run(command, repeat)
        if expected is None:
            assert run["code"] == 2, "an unknown request must exit 2"
        else:
            traced = json.loads(run["stdout"])
            if traced["request_id"] != expected:
                raise SystemExit(f"{name}: traced {traced['request_id']}, expected {expected}")
            if traced["model"]["registered"] != registered:
                raise SystemExit(
                    f"{name}: registered is {traced['model']['registered']}, expected {registered}"
                )
        out["trace"][name] = {
            "process_seconds": run["seconds"],
            "process_cpu_seconds": run["cpu_seconds"],
            "peak_mib": run["peak_mib"],
            "ratio_to_floor_process": run["seconds"] / floor["seconds"],
            "outcomes": None if expected is None else len(traced["outcomes"]),
            "registered": None if expected is None else traced["model"]["registered"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-day", type=int, default=2_000_000, help="requests a day (default 2M)")
    parser.add_argument("--days", type=int, default=1, help="days in the lake (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument(
        "--bloom", action="store_true", help="also measure a copy of the lake written with Bloom filters"
    )
    parser.add_argument(
        "--registered",
        action="store_true",
        help="also measure a copy of the store with the traced model versions registered",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    folder = CACHE / str(args.per_day)
    workspace = build(args.per_day, args.days, folder)
    # The cache may hold more days than asked for: the lake is what it is, and is reported.
    sample = json.loads(run_once([str(PYTHON), "-c", SAMPLE_CODE, str(workspace), MISSING_ID])["stdout"])
    assert sample["missing_present"] == 0
    lakes = {"as written by recops": workspace}
    registered = "with the traced model versions registered"
    if args.bloom:
        lakes["with Bloom filters on request_id, user_id"] = bloom_copy(
            workspace, folder / f"bloom-{args.days}"
        )
    if args.registered:
        versions = {(m, v) for m, v in (sample[which]["model"] for which in ("newest", "middle", "oldest"))}
        lakes[registered] = registered_copy(workspace, folder / f"registered-{args.days}", versions)
    startup = median_run([str(PYTHON), "-c", STARTUP_CODE], args.repeat)
    results: dict[str, Any] = {
        "requests": sample["requests"],
        "days": len(sample["dates"]),
        "target_seconds": 1.0,
        "startup": {"process_seconds": startup["seconds"], "process_cpu_seconds": startup["cpu_seconds"]},
        "lakes": {
            name: measure(path, sample, args.repeat, registered=name == registered)
            for name, path in lakes.items()
        },
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['requests']:,} requests over {results['days']} day(s); medians of {args.repeat} runs")
    startup = results["startup"]
    print(
        f"startup (interpreter and the imports of `recops trace`, no work): "
        f"{startup['process_seconds']:.2f} s process ({startup['process_cpu_seconds']:.2f} s CPU)"
    )
    for name, r in results["lakes"].items():
        floor = r["floor"]
        print(f"lake {name}")
        print(
            f"  floor (DuckDB: count of one request_id over every requests file): "
            f"{floor['scan_seconds']:.3f} s scan, {floor['process_seconds']:.2f} s process "
            f"({floor['process_cpu_seconds']:.2f} s CPU)"
        )
        for case, t in r["trace"].items():
            print(
                f"  recops trace, {case}: {t['process_seconds']:.2f} s process "
                f"({t['process_cpu_seconds']:.2f} s CPU), {t['peak_mib']:.0f} MiB, "
                f"{t['ratio_to_floor_process']:.2f}x the floor (target: under 1 s)"
            )


if __name__ == "__main__":
    main()
