"""Benchmark: every monitor family over one simulated day, beside a plain read of that day.

Issue 5's target: one day of 2M requests (20 candidates each, 6 request features, 3
feature groups; slices by surface, model version and device), all monitor families, in
under 60 s on this machine, with peak memory reported; at 20M requests, peak memory at
most 2x that at 2M.

The day is simulated by ``recops.sim`` (2M requests per world; 20M = ten worlds of the
same day with different seeds, whose request ids never collide), written as Parquet and
ingested into a workspace once, cached under ~/.cache/recops-bench/monitor_day/. Each
run then measures, in the same run and as whole processes:

* floor: a plain DuckDB read of every column of that day's lake files (requests with
  every candidate field unnested, outcomes, feature rows, arrivals);
* recops: ``recops monitor run --no-detect`` (the monitor families only; detection is
  measured by bench/detection.py) on a fresh copy of the workspace's store (so every
  window is computed), on the configured engine (DuckDB);

and reports seconds, peak RSS and the ratio to the floor.

    .venv/bin/python bench/monitor_day.py                 # 2M requests
    .venv/bin/python bench/monitor_day.py --requests 20000000
    .venv/bin/python bench/monitor_day.py --requests 200000 --json   # a quick look
    .venv/bin/python bench/monitor_day.py --requests 20000000 --by-family  # whose peak is it?

With ``--by-family`` each family also runs alone, as its own process on its own fresh
copy of the store, so the peak memory of each is known (the whole run's peak is the
largest of them plus what the runner holds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _measure import timed

from recops.catalog.definitions import FAMILIES

PYTHON = Path(sys.executable)
CACHE = Path.home() / ".cache" / "recops-bench" / "monitor_day"
PER_WORLD = 2_000_000
KINDS = ["requests", "outcomes", "feature_rows", "arrivals", "changes"]

# Slices by surface, model version (always) and device: the benchmark shape.
CONFIG_PATCH = ('context_keys = ["device", "country"]', 'context_keys = ["device"]')


def build(requests: int, folder: Path) -> Path:
    """Simulate, write and ingest the day once; returns the workspace folder."""
    workspace = folder / "ws"
    if (folder / "done").exists():
        return workspace
    shutil.rmtree(folder, ignore_errors=True)
    from recops.ingest import ingest_files
    from recops.sim import SimConfig, simulate
    from recops.workspace import Workspace

    worlds = max(1, requests // PER_WORLD)
    per_world = requests // worlds
    with Workspace.init(workspace) as ws:
        for w in range(worlds):
            raw = folder / f"raw-{w}"
            print(f"simulating world {w + 1}/{worlds} ({per_world:,} requests)", file=sys.stderr)
            world = simulate(
                SimConfig(seed=100 + w, start="2026-10-05", days=1, requests_per_day=per_world, incidents=[])
            )
            world.write(raw, fmt="parquet")
            del world
            for kind in KINDS:
                if (raw / kind).exists():
                    ingest_files(ws.lake, kind, [raw / kind])
            shutil.rmtree(raw)
    config = workspace / "recops.toml"
    config.write_text(config.read_text().replace(*CONFIG_PATCH))
    (folder / "done").touch()
    return workspace


FLOOR_CODE = """
import json, sys, time
from recops.workspace import Workspace
ws = Workspace.open(sys.argv[1])
con = ws.lake.connect()
def sums(view):
    cols = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
    out = []
    for name, kind, *_ in cols:
        q = f'"{name}"'
        if kind.startswith("MAP"):
            out.append(f"sum(cardinality({q}))")
        elif kind.startswith("STRUCT") or kind.endswith("[]"):
            continue
        elif kind == "VARCHAR":
            out.append(f"sum(length({q}))")
        elif kind.startswith("TIMESTAMP"):
            out.append(f"max(epoch_us({q}))")
        else:
            out.append(f"sum({q})")
    return out
started = time.perf_counter()
for view in ("requests", "candidates", "outcomes", "feature_rows", "arrivals"):
    con.execute(f"SELECT {', '.join(sums(view))} FROM {view}").fetchall()
print(json.dumps({"read_seconds": time.perf_counter() - started}))
"""


def fresh_copy(workspace: Path, target: Path) -> Path:
    """The workspace with its lake linked (not copied) and its store copied: no series yet."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "data").symlink_to(workspace / "data")
    shutil.copy(workspace / "recops.toml", target / "recops.toml")
    shutil.copy(workspace / "recops.db", target / "recops.db")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=PER_WORLD, help="requests in the day (default 2M)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--by-family", action="store_true", help="also run each family alone (peak memory)")
    args = parser.parse_args()
    folder = CACHE / str(args.requests)
    workspace = build(args.requests, folder)
    floor = timed([str(PYTHON), "-c", FLOOR_CODE, str(workspace)])
    floor_read = json.loads(floor["stdout"])["read_seconds"]
    run_ws = fresh_copy(workspace, folder / "run")
    run = timed(
        [str(PYTHON), "-m", "recops.cli", "monitor", "run", "--no-detect", "--json", "-w", str(run_ws)]
    )
    report = json.loads(run["stdout"])
    results: dict[str, Any] = {
        "requests": args.requests,
        "floor": {
            "process_seconds": floor["seconds"],
            "read_seconds": floor_read,
            "peak_mib": floor["peak_mib"],
        },
        "recops": {
            "process_seconds": run["seconds"],
            "peak_mib": run["peak_mib"],
            "windows": report["windows"],
            "points": report["points"],
            "family_seconds": report.get("family_seconds", {}),
        },
        "ratio_to_floor_process": run["seconds"] / floor["seconds"],
        "ratio_to_floor_read": run["seconds"] / floor_read,
        "target_seconds": 60,
    }
    if args.by_family:
        results["families"] = {name: run_family(workspace, folder, name) for name in FAMILIES}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.requests:,} requests in one day")
    print(
        f"  floor (plain DuckDB read of every column): {floor_read:.1f} s read, "
        f"{floor['seconds']:.1f} s process, {floor['peak_mib']:.0f} MiB"
    )
    print(f"  recops monitor run (all families): {run['seconds']:.1f} s process, {run['peak_mib']:.0f} MiB")
    ratio = results["ratio_to_floor_process"]
    print(f"  ratio to the floor process: {ratio:.1f}x (target: under 60 s)")
    print(f"  points: {sum(report['points'].values()):,} {report['points']}")
    spent = ", ".join(
        f"{name} {t:.1f}" for name, t in sorted(report.get("family_seconds", {}).items(), key=lambda x: -x[1])
    )
    print(f"  seconds by family: {spent}")
    for name, alone in results.get("families", {}).items():
        print(f"  {name} alone: {alone['process_seconds']:.1f} s process, {alone['peak_mib']:.0f} MiB")


def run_family(workspace: Path, folder: Path, family: str) -> dict[str, float]:
    """One family alone, as a whole process on a fresh copy of the store."""
    run_ws = fresh_copy(workspace, folder / "run")
    command = ["monitor", "run", "--no-detect", "--family", family, "--json", "-w", str(run_ws)]
    run = timed([str(PYTHON), "-m", "recops.cli", *command])
    return {"process_seconds": run["seconds"], "peak_mib": run["peak_mib"]}


if __name__ == "__main__":
    main()
