"""Benchmark: ``recops diagnose`` on a large lake, beside the floor of reading what it reads.

Issue 7's target: the whole ``recops diagnose`` command, from a warm workspace, in under
10 seconds over 10M logged requests (``bench/diagnose.py`` measures whether it ranks the
right cause; this one measures it at scale).

The lake is the one ``bench/trace.py`` builds and caches (``--per-day`` requests a day
for ``--days`` days, one simulated world per day), so the two benchmarks share it. The
monitors are run once over it, one day at a time (``recops monitor run --from D --to
D+1 --no-detect``; a marker file says it is done), then one detection pass. Then, as
whole processes (interpreter start, imports, store, lake, output), medians of
``--repeat`` runs after a warm-up:

* floor: a plain read of every stored point of the periods a diagnosis reads (the current
  period and its baseline, every metric), plus one grouped count of the lake's requests
  in the current period: the least any diagnosis must read;
* ``recops diagnose --metric M --from T --to T+6h --json`` on the newest six hours for
  CTR, the p99 latency and the fallback rate (hour windows; the baseline is the 7 days
  before, as the week before lies outside the lake);
* ``recops diagnose --metric ctr`` over the newest whole day (hour windows);
* ``recops diagnose --alert ID --json`` for the newest alerts of the detection pass, when
  it raised any.

    .venv/bin/python bench/diagnose_scale.py                    # 2M requests a day, 5 days: 10M
    .venv/bin/python bench/diagnose_scale.py --per-day 200000 --days 2 --repeat 1   # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import timed

BENCH = Path(__file__).resolve().parent
PYTHON = Path(sys.executable)
SIX_HOURS = timedelta(hours=6)
DAY = timedelta(days=1)


def _trace_bench() -> Any:
    """bench/trace.py as a module (its file name shadows the standard library's ``trace``)."""
    spec = importlib.util.spec_from_file_location("recops_bench_trace", BENCH / "trace.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def monitor(workspace: Path, folder: Path) -> dict[str, Any]:
    """Monitors one day at a time, then one detection pass (once; cached by a marker)."""
    marker = folder / "monitored.json"
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    from recops.workspace import Workspace

    with Workspace.open(workspace) as ws:
        days = sorted(r.date for r in ws.lake.catalog.live_file_rows("requests"))
    days = sorted(set(days))
    recops = [str(PYTHON), "-m", "recops.cli"]
    seconds, peak = 0.0, 0.0
    for day in days:
        start = datetime.fromisoformat(str(day)).replace(tzinfo=UTC)
        print(f"monitoring {start:%Y-%m-%d}", file=sys.stderr)
        run = timed(
            [*recops, "monitor", "run", "--from", start.isoformat(), "--to", (start + DAY).isoformat(),
             "--no-detect", "--json", "-w", str(workspace)]
        )  # fmt: skip
        seconds += run["seconds"]
        peak = max(peak, run["peak_mib"])
    print("detecting", file=sys.stderr)  # every window is computed: the run only detects
    detect = timed([*recops, "monitor", "run", "--json", "-w", str(workspace)])
    out = {
        "days": [str(d) for d in days],
        "monitor_seconds": seconds,
        "monitor_peak_mib": peak,
        "detect_seconds": detect["seconds"],
    }
    marker.write_text(json.dumps(out))
    return out


FLOOR_CODE = """
import json, sys, time
from datetime import datetime
from recops.monitors.series import read_series
from recops.workspace import Workspace
started = time.perf_counter()
start, end, base_start = (datetime.fromisoformat(a) for a in sys.argv[2:5])
with Workspace.open(sys.argv[1]) as ws:
    points = read_series(ws.store, granularity="hour", start=start, end=end).num_rows
    points += read_series(ws.store, granularity="hour", start=base_start, end=start).num_rows
    con = ws.lake.connect()
    rows = con.execute(
        "SELECT surface, model_version, count(*) FROM requests WHERE ts >= ? AND ts < ? GROUP BY ALL",
        [start, end],
    ).fetchall()
print(json.dumps({"points": points, "groups": len(rows), "seconds": time.perf_counter() - started}))
"""


def cases(workspace: Path, last_day: datetime) -> dict[str, list[str]]:
    """The diagnose commands timed: metric moves over the newest hours and day, and alerts."""
    from recops.detect.alerts import list_alerts
    from recops.workspace import Workspace

    recops = [str(PYTHON), "-m", "recops.cli", "diagnose", "--json", "-w", str(workspace)]
    end = last_day + DAY
    six = ["--from", (end - SIX_HOURS).isoformat(), "--to", end.isoformat()]
    out = {
        f"--metric {m}, newest 6 h": [*recops, "--metric", m, *six]
        for m in ("ctr", "latency_p99_ms", "fallback_rate")
    }
    out["--metric ctr, newest day"] = [
        *recops, "--metric", "ctr", "--from", last_day.isoformat(), "--to", end.isoformat()
    ]  # fmt: skip
    with Workspace.open(workspace) as ws:
        alerts = sorted(list_alerts(ws.store), key=lambda a: (a.data_time, a.id))
    for alert in alerts[-2:]:
        out[f"--alert {alert.id} ({alert.metric} {alert.slice or 'all'} {alert.granularity})"] = [
            *recops, "--alert", str(alert.id)
        ]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-day", type=int, default=2_000_000, help="requests a day (default 2M)")
    parser.add_argument("--days", type=int, default=5, help="days in the lake (default 5)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    trace = _trace_bench()
    folder = trace.CACHE / str(args.per_day)
    workspace = trace.build(args.per_day, args.days, folder)
    monitored = monitor(workspace, folder)
    last_day = datetime.fromisoformat(monitored["days"][-1]).replace(tzinfo=UTC)
    current = (last_day + DAY - SIX_HOURS, last_day + DAY)
    floor_command = [str(PYTHON), "-c", FLOOR_CODE, str(workspace), *(t.isoformat() for t in current),
                     (current[0] - 7 * DAY).isoformat()]  # fmt: skip
    floor = trace.median_run(floor_command, args.repeat)
    results: dict[str, Any] = {
        "requests": args.per_day * args.days,
        "monitoring": monitored,
        "floor": {"process_seconds": floor["seconds"], **json.loads(floor["stdout"])},
        "diagnose": {},
        "target_seconds": 10,
    }
    for name, command in cases(workspace, last_day).items():
        run = trace.median_run(command, args.repeat)
        diagnosis = json.loads(run["stdout"])
        top = next((h for h in diagnosis["hypotheses"] if h["score"] > 0), None)
        results["diagnose"][name] = {
            "process_seconds": run["seconds"],
            "process_cpu_seconds": run["cpu_seconds"],
            "peak_mib": run["peak_mib"],
            "ratio_to_floor_process": run["seconds"] / floor["seconds"],
            "library_seconds": diagnosis["seconds"],
            "points_read": diagnosis["points_read"],
            "top": f"{top['kind']} ({top['score']:.2f})" if top else None,
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{results['requests']:,} requests over {args.days} days; "
        f"monitors {monitored['monitor_seconds']:.0f} s, detection {monitored['detect_seconds']:.0f} s"
    )
    print(f"  floor (stored points of both periods + one grouped count): {floor['seconds']:.2f} s process")
    for name, r in results["diagnose"].items():
        print(
            f"  diagnose {name}: {r['process_seconds']:.2f} s process ({r['library_seconds']:.2f} s in the "
            f"library, {r['points_read']:,} points), {r['ratio_to_floor_process']:.1f}x the floor, "
            f"{r['peak_mib']:.0f} MiB; top: {r['top']}"
        )
    print("  target: under 10 s for the whole command")


if __name__ == "__main__":
    main()
