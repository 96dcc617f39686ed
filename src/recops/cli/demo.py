"""``recops demo``: simulate weeks of a platform with incidents, ingest them, summarize, serve."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from recops.cli.options import JsonOption
from recops.cli.output import console, err_console, print_json, print_table, progress_bar

DEMO_TOKEN = "demo-admin"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo workspace goes (recreated if it is a demo).")
    ] = Path("recops-demo"),
    days: Annotated[int, typer.Option(min=14, help="Simulated days (14 or more).")] = 42,
    requests_per_day: Annotated[int, typer.Option(min=100, help="Simulated requests per day.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 7,
    port: Annotated[int, typer.Option("--port", help="Port of the dashboard served at the end.")] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="End after the summary (scripts, CI).")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Simulate a video-streaming recommender with incidents, ingest it, then serve the dashboard.

    The world (six weeks by default) has daily and weekly seasonality, model deploys with
    canaries, feature pipelines and upstream arrivals, plus injected incidents (a stale
    feature group, a bad deploy hurting one device, a latency regression, ...) whose
    ground truth is written beside the data (raw/ground_truth.json). The registry gets
    the world's model versions and alias moves; the monitors and detection run over the
    weeks; then the dashboard is served on 127.0.0.1 with an admin token printed to sign
    in with (--no-serve stops after the summary).
    """
    from recops.detect.alerts import list_alerts, list_groups
    from recops.server.tokens import create_token
    from recops.sim import SimConfig
    from recops.sim.demo import build_demo, incidents_of
    from recops.workspace import Workspace

    say = err_console.print if not json else (lambda *_a, **_k: None)
    say(f"[bold]simulating[/] {days} days × {requests_per_day:,} requests/day (seed {seed})")
    with progress_bar("demo", 1, enabled=not json) as bar:
        task = bar.task_ids[0]

        def advance(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        built = build_demo(
            directory, SimConfig(seed=seed, days=days, requests_per_day=requests_per_day), progress=advance
        )
    with Workspace.open(built.root) as ws:
        alerts = [a.to_dict() for a in sorted(list_alerts(ws.store), key=lambda a: a.data_time)]
        groups = [g.to_dict() for g in sorted(list_groups(ws.store), key=lambda g: g.first_data_time)]
        token = None if no_serve else create_token(ws.store, DEMO_TOKEN, "admin", created_by="recops demo")
    incidents = incidents_of(built.world)
    summary: dict[str, Any] = {
        "workspace": str(built.root),
        "seconds": built.seconds,
        "stored": built.stored,
        "expected": built.expected,
        "model_versions": built.versions,
        "incidents": incidents,
        "alerts": alerts,
        "alert_groups": groups,
    }
    if json:
        print_json(summary)
    else:
        _print_summary(summary, directory)
    if token is not None:
        _serve(built.root, port, token)


def _print_summary(summary: dict[str, Any], directory: Path) -> None:
    stored, incidents, groups = summary["stored"], summary["incidents"], summary["alert_groups"]
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
        title=f"{len(summary['alerts'])} alerts in {len(groups)} groups on the simulated weeks "
        f"(`recops alerts list -w {directory}`)",
    )
    console.print(f"workspace ready at {summary['workspace']} in {summary['seconds']} s. Try:")
    console.print(
        f"  {_recops_command()} sql -w {summary['workspace']} "
        '"SELECT surface, count(*) FROM requests GROUP BY ALL"',
        highlight=False,
        soft_wrap=True,
    )


def _recops_command() -> str:
    """How to run recops again from anywhere: the script beside this interpreter, else ``recops``."""
    script = Path(sys.executable).parent / "recops"
    return str(script) if script.exists() else "recops"


def _serve(root: Path, port: int, token: str) -> None:
    from recops.server.serve import serve
    from recops.workspace import Workspace

    console.print(f"\n[bold]dashboard[/]: http://127.0.0.1:{port}/  (Ctrl-C stops)")
    console.print(f"sign in with this admin token: {token}", highlight=False, soft_wrap=True)
    with Workspace.open(root) as ws:
        serve(ws, host="127.0.0.1", port=port, schedule=False)
