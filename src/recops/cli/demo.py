"""``recops demo``: simulate weeks of a platform with incidents, ingest them, summarize."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from recops.cli.options import JsonOption
from recops.cli.output import console, err_console, print_json, print_table, progress_bar
from recops.contract import KINDS
from recops.errors import InvalidInput
from recops.ingest.pipeline import ingest_files
from recops.workspace import Workspace

MARKER = ".recops-demo"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo workspace goes (recreated).")
    ] = Path("recops-demo"),
    days: Annotated[int, typer.Option(help="Simulated days.")] = 42,
    requests_per_day: Annotated[int, typer.Option(help="Simulated requests per day.")] = 20_000,
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
    ground truth is written beside the data.
    """
    from recops.sim import SimConfig, simulate

    _fresh(directory)
    started = time.perf_counter()
    say = (lambda _m: None) if json else err_console.print
    say(f"[bold]simulating[/] {days} days × {requests_per_day:,} requests/day (seed {seed})")
    config = SimConfig(seed=seed, days=days, requests_per_day=requests_per_day)
    world = simulate(config)
    raw = directory / "raw"
    manifest = world.write(raw, fmt="parquet")
    say(f"wrote the simulated platform's files to {raw} ({time.perf_counter() - started:.1f} s)")
    ws = Workspace.init(directory)
    (directory / MARKER).write_text("created by recops demo\n")
    reports = []
    with ws, progress_bar("ingest", len(KINDS), enabled=not json) as bar:
        for kind in KINDS:
            folder = raw / kind
            if folder.exists():
                reports.append(ingest_files(ws.lake, kind, [str(folder)]))
            bar.advance(bar.task_ids[0])
        con = ws.lake.connect()
        stored = {k: con.execute(f'SELECT count(*) FROM "{k}"').fetchall()[0][0] for k in KINDS}
    summary = {
        "workspace": str(directory.resolve()),
        "seconds": round(time.perf_counter() - started, 1),
        "stored": stored,
        "expected": {k: manifest.counts[k].distinct_valid for k in manifest.counts},
        "incidents": [
            {"kind": i.kind, "start": i.start, "end": i.end, "benign": i.benign}
            for i in world.truth.incidents
        ],
    }
    if json:
        print_json(summary)
        return
    import pyarrow as pa

    print_table(pa.table({"kind": list(stored), "stored records": list(stored.values())}), title="lake")
    print_table(
        pa.table({k: [i[k] for i in summary["incidents"]] for k in ("kind", "start", "end", "benign")}),  # type: ignore[index]
        title="injected incidents (ground truth: raw/ground_truth.json)",
    )
    console.print(f"workspace ready at {summary['workspace']} ({summary['seconds']} s). Try:")
    console.print(
        f'  recops -h ; recops sql -w {directory} "SELECT surface, count(*) FROM requests GROUP BY ALL"'
    )
    if not no_serve:
        console.print("(the dashboard arrives with `recops serve`; nothing to serve yet)")


def _fresh(directory: Path) -> None:
    if directory.exists():
        if not (directory / MARKER).exists():
            raise InvalidInput(f"{directory} exists and was not made by recops demo; choose another --dir")
        shutil.rmtree(directory)
