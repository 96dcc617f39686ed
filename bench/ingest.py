"""Ingest throughput, beside its floor, into a lake that already holds six simulated weeks.

Run by hand (not in CI):  .venv/bin/python bench/ingest.py [--day-requests 1000000] [--json]

1. Simulates six weeks at --base-requests per day and ingests them (the existing lake).
2. Simulates one more day of --day-requests requests (20 candidates each), as Parquet.
3. Times, in the same run: a plain pyarrow read + write of those files (the floor), then
   `recops ingest requests` of them (the whole pipeline: validation, dedupe against the
   six weeks, write, commit); reports requests/s and the ratio to the floor.
4. Re-ingests the same files (must skip them without reading rows) and times that.
5. Runs bench/sdk_overhead.py for the serving logger's caller-thread cost and its effect
   on a toy HTTP service's p99.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recops.ingest.pipeline import ingest_files
from recops.sim import SimConfig, simulate
from recops.workspace import Workspace


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weeks", type=int, default=6)
    parser.add_argument("--base-requests", type=int, default=20_000, help="requests/day of the six weeks")
    parser.add_argument("--day-requests", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8, help="Parquet files the big day is split into")
    parser.add_argument("--skip-sdk", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {}
    log = (lambda *_: None) if args.json else print

    with tempfile.TemporaryDirectory(prefix="recops-bench-") as tmp:
        root = Path(tmp)
        start = date(2026, 9, 1)
        days = 7 * args.weeks
        log(f"simulating {days} days × {args.base_requests:,} requests/day ...")
        weeks = simulate(
            SimConfig(seed=1, start=start.isoformat(), days=days, requests_per_day=args.base_requests)
        )
        weeks.write(root / "weeks", fmt="parquet")
        del weeks  # the six weeks are on disk; free their ~3 GB before the big day
        gc.collect()
        pa.default_memory_pool().release_unused()
        ws = Workspace.init(root / "ws")
        for kind in ("requests", "outcomes", "feature_rows", "arrivals", "changes"):
            if (root / "weeks" / kind).exists():
                ingest_files(ws.lake, kind, [root / "weeks" / kind])
        existing = ws.lake.connect().execute("SELECT count(*) FROM requests").fetchall()[0][0]
        results["lake_requests_before"] = existing
        log(f"lake holds {existing:,} requests")

        log(f"simulating one day of {args.day_requests:,} requests ...")
        day_start = start + timedelta(days=days)
        cfg = SimConfig(
            seed=2, start=day_start.isoformat(), days=1, requests_per_day=args.day_requests, incidents=[]
        )
        day, sim_seconds = timed(lambda: simulate(cfg))
        results["simulate_day_seconds"] = round(sim_seconds, 1)
        day.write(root / "day", fmt="parquet", files_per_day=args.files)
        candidates = day.tables["requests"].column("candidates").combine_chunks().value_lengths()
        results["mean_candidates"] = round(float(candidates.to_numpy().mean()), 1)
        del day, candidates
        gc.collect()
        pa.default_memory_pool().release_unused()
        files = sorted((root / "day" / "requests").rglob("*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        results["day_requests"] = rows

        def floor() -> None:
            for i, f in enumerate(files):
                pq.write_table(pq.read_table(f), root / f"floor-{i}.parquet")

        _, floor_seconds = timed(floor)
        report, ingest_seconds = timed(lambda: ingest_files(ws.lake, "requests", files))
        again, again_seconds = timed(lambda: ingest_files(ws.lake, "requests", files))
        results.update(
            floor_seconds=round(floor_seconds, 2),
            floor_requests_per_s=round(rows / floor_seconds),
            ingest_seconds=round(ingest_seconds, 2),
            ingest_requests_per_s=round(report.rows_stored / ingest_seconds),
            ratio_to_floor=round(ingest_seconds / floor_seconds, 2),
            stored=report.rows_stored,
            reingest_seconds=round(again_seconds, 3),
            reingest_files_skipped=again.files_skipped,
            reingest_rows_read=again.rows_read,
        )
        ws.close()

    if not args.skip_sdk:
        sdk = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("sdk_overhead.py")), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        results["sdk"] = json.loads(sdk.stdout)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:>28}: {value}")


if __name__ == "__main__":
    main()
