"""``recops demo``: simulate weeks of a platform with incidents, ingest them, summarize."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from recops.cli.options import JsonOption
from recops.cli.output import console, err_console, print_json, print_table, progress_bar
from recops.contract import KINDS
from recops.detect.alerts import list_groups
from recops.errors import InvalidInput
from recops.ingest import ingest_files
from recops.workspace import Workspace

MARKER = ".recops-demo"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo workspace goes (recreated if it is a demo).")
    ] = Path("recops-demo"),
    days: Annotated[int, typer.Option(min=14, help="Simulated days (14 or more).")] = 42,
    requests_per_day: Annotated[int, typer.Option(min=100, help="Simulated requests per day.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 7,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="End after the summary (scripts, CI).")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Simulate a video-streaming recommender with incidents, then ingest and summarize it.

    The world (six weeks by default) has daily and weekly seasonality, model deploys with
    canaries, feature pipelines and upstream arrivals, plus injected incidents (a stale
    feature group, a bad deploy hurting one device, a latency regression, ...) whose
    ground truth is written beside the data (raw/ground_truth.json).
    """
    from recops.sim import SimConfig, simulate

    _fresh(directory)
    started = time.perf_counter()
    say = err_console.print if not json else (lambda *_a, **_k: None)
    say(f"[bold]simulating[/] {days} days × {requests_per_day:,} requests/day (seed {seed})")
    world = simulate(SimConfig(seed=seed, days=days, requests_per_day=requests_per_day))
    raw = directory / "raw"
    manifest = world.write(raw, fmt="parquet")
    say(f"wrote the platform's files to {raw} in {time.perf_counter() - started:.0f} s")
    with Workspace.init(directory) as ws:
        (directory / MARKER).write_text("created by recops demo\n")
        with progress_bar("ingest", len(KINDS), enabled=not json) as bar:
            for kind in KINDS:
                if (raw / kind).exists():
                    ingest_files(ws.lake, kind, [raw / kind])
                bar.advance(bar.task_ids[0])
        con = ws.lake.connect()
        stored = {k: int(con.execute(f'SELECT count(*) FROM "{k}"').fetchall()[0][0]) for k in KINDS}
        alerts = _monitor_and_detect(ws, world.truth.end, quiet=json)
        groups = [g.to_dict() for g in sorted(list_groups(ws.store), key=lambda g: g.first_data_time)]
    incidents = [
        {"kind": i.kind, "start": i.start, "end": i.end, "benign": i.benign, "entity": i.entity}
        for i in world.truth.incidents
    ]
    summary: dict[str, Any] = {
        "workspace": str(directory.resolve()),
        "seconds": round(time.perf_counter() - started, 1),
        "stored": stored,
        "expected": {k: m.distinct_valid for k, m in manifest.counts.items()},
        "incidents": incidents,
        "alerts": alerts,
        "alert_groups": groups,
    }
    if json:
        print_json(summary)
        return
    print_table(
        pa.table(
            {
                "kind": list(stored),
                "stored": list(stored.values()),
                "simulated": [summary["expected"].get(k) for k in stored],
            }
        ),
        title="lake",
    )
    print_table(
        pa.table({key: [str(i[key]) for i in incidents] for key in ("kind", "start", "end", "benign")}),
        title="injected incidents (ground truth: raw/ground_truth.json)",
    )
    groups = summary["alert_groups"]
    print_table(
        pa.table(
            {
                "group": [f"g{g['id']}" for g in groups],
                "severity": [g["severity"] for g in groups],
                "state": [g["state"] for g in groups],
                "first data time": [g["first_data_time"] for g in groups],
                "cause": [g["cause"] for g in groups],
                "alerts": [len(g["members"]) for g in groups],
            }
        ),
        title=f"{len(alerts)} alerts in {len(groups)} groups on the simulated weeks "
        f"(`recops alerts list -w {directory}`)",
    )
    console.print(f"workspace ready at {summary['workspace']} in {summary['seconds']} s. Try:")
    console.print(
        f'  .venv/bin/recops sql -w {directory} "SELECT surface, count(*) FROM requests GROUP BY ALL"'
    )
    if not no_serve:
        console.print("(the dashboard comes with `recops serve` in a later release; nothing to serve yet)")


def _monitor_and_detect(ws: Workspace, end: str, *, quiet: bool) -> list[dict[str, Any]]:
    """Compute the monitors over the whole world, run detection as of its end, list the alerts."""
    from datetime import datetime

    from recops.detect.alerts import list_alerts
    from recops.detect.cycle import detection_cycle
    from recops.monitors import run_monitors

    with progress_bar("monitors", 1, enabled=not quiet) as bar:
        task = bar.task_ids[0]

        def advance(_step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        run_monitors(ws.config, ws.lake, progress=advance)
        # The world's end is "now" for the dead man's switch: the data is weeks old by design.
        detection_cycle(ws.store, ws.config, at=datetime.fromisoformat(end), progress=advance)
    return [a.to_dict() for a in sorted(list_alerts(ws.store), key=lambda a: a.data_time)]


def _fresh(directory: Path) -> None:
    if directory.exists():
        if not (directory / MARKER).exists():
            raise InvalidInput(f"{directory} exists and was not made by recops demo; choose another --dir")
        shutil.rmtree(directory)
