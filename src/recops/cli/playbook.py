"""``recops playbook list | show NAME | run NAME [--dry-run]``: runbooks with quantified tradeoffs."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json
from recops.errors import InvalidInput, RecopsError
from recops.workspace import ENV_VAR, Workspace

app = typer.Typer(help="Playbooks: ordered steps per symptom, hotfix options with their measured tradeoffs.")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="playbook", no_args_is_help=True)


NameArg = Annotated[str, typer.Argument(help="Playbook name or a symptom it answers.", show_default=False)]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", help="KEY=VALUE for the steps' {placeholders} and the options.", show_default=False
    ),
]


def _params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _rate(m: dict[str, Any] | None, metric: str) -> str:
    if not m or m[metric]["value"] is None:
        return "-"
    lo, hi = m[metric]["ci95"]
    return f"{_pct(m[metric]['value'])} [{_pct(lo)}, {_pct(hi)}]"


@app.command("list")
def list_cmd(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """Every playbook, built-in and the workspace's playbooks/*.yaml."""
    from recops.errors import WorkspaceNotFound
    from recops.respond.playbooks import load_playbooks
    from recops.workspace import find_root

    try:
        root = find_root(workspace)
    except WorkspaceNotFound:  # outside a workspace the built-ins are still worth listing
        if workspace is not None or os.environ.get(ENV_VAR):
            raise
        root = None
    books = load_playbooks(root)
    if json:
        print_json([b.to_dict() for b in books.values()])
        return
    for b in books.values():
        console.print(f"{b.name:<26} {escape(b.title)}  [dim]({', '.join(b.symptoms)})[/]", highlight=False)


@app.command("show")
def show_cmd(
    name: NameArg, param: ParamOption = None, workspace: WorkspaceOption = None, json: JsonOption = False
) -> None:
    """The playbook's steps and the tradeoff table of its hotfix options, from this workspace's history."""
    from recops.respond.playbooks import get_playbook
    from recops.respond.playbooks.tradeoffs import tradeoffs

    params = _params(param)
    with Workspace.open(workspace) as ws:
        pb = get_playbook(ws.config.root, name)
        table = [t.to_dict() for t in tradeoffs(ws.store, ws.lake, ws.config, pb, params)]
    if json:
        print_json({**pb.to_dict(), "tradeoffs": table})
        return
    console.print(
        f"[bold]{escape(pb.name)}[/]: {escape(pb.title)} (owner {escape(pb.owner)})", highlight=False
    )
    for i, s in enumerate(pb.steps, 1):
        console.print(f"  {i}. {escape(s.title)} [dim]{escape(s.run or '(manual)')} ~{s.minutes:g} min[/]")
    from rich.table import Table

    t = Table(title="hotfix options")
    for col in ("option", "CTR now", "CTR with option", "play rate now", "play rate with option",
                "latency p50 Δ ms", "minutes", "loses"):  # fmt: skip
        t.add_column(col)
    for row in table:
        lat = row["latency_p50_change_ms"]
        minutes = f"{row['minutes_planned']:g}" + (
            f" (past median {row['minutes_past_median']:.1f})"
            if row["minutes_past_median"] is not None
            else ""
        )
        t.add_row(
            row["option"], _rate(row["now"], "ctr"), _rate(row["with_option"], "ctr"),
            _rate(row["now"], "play_rate"), _rate(row["with_option"], "play_rate"),
            "-" if lat is None else f"{lat:+.1f}", minutes, row["loses"],
        )  # fmt: skip
    console.print(t)
    for row in table:
        console.print(f"[dim]{escape(row['option'])}: {escape(row['basis'])}[/]", highlight=False)


def _run_step(argv: list[str]) -> tuple[bool, str]:
    """Run one recops command in this process; its output goes to the terminal."""
    import click

    from recops.cli.main import COMMANDS, cli_command

    if not argv or argv[0] not in COMMANDS:
        return False, f"unknown recops command {argv[:1]}"
    command = cli_command([argv[0]])
    try:
        command.main(args=argv, prog_name="recops", standalone_mode=False)
    except RecopsError as exc:
        return False, str(exc)
    except click.ClickException as exc:
        return False, exc.format_message()
    except SystemExit as exc:
        return exc.code in (0, None), f"exit {exc.code}"
    return True, "ok"


@app.command("run")
def run_cmd(
    name: NameArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show exactly what would run; change nothing.")
    ] = False,
    param: ParamOption = None,
    incident: Annotated[
        int | None, typer.Option("--incident", help="Record the run on this incident.", show_default=False)
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Run the playbook's recops steps in order (manual steps are listed); recorded."""
    from recops.registry._canonical import now
    from recops.respond.incidents import get_incident
    from recops.respond.playbooks import argv, get_playbook, plan, record_run

    params = _params(param)
    started: datetime = now()
    with Workspace.open(workspace) as ws:
        pb = get_playbook(ws.config.root, name)
        steps = plan(pb, params)
        if incident is not None:
            get_incident(ws.store, incident)  # before any step runs: a run is recorded on it
        root = str(ws.config.root)
        if not dry_run:
            previous = os.environ.get(ENV_VAR)
            os.environ[ENV_VAR] = root
            try:
                for s in steps:
                    if s["action"] != "run":
                        s["outcome"] = "manual: not run by recops"
                        continue
                    ok, message = _run_step(argv(s["command"]))
                    s["ok"], s["outcome"] = ok, message
                    if not ok:
                        break
            finally:
                if previous is None:
                    os.environ.pop(ENV_VAR, None)
                else:
                    os.environ[ENV_VAR] = previous
        run_id = record_run(ws.store, pb, steps, dry_run=dry_run, started_at=started, incident_id=incident)
    failed = any(s.get("ok") is False for s in steps)
    if json:
        print_json({"run_id": run_id, "playbook": pb.name, "dry_run": dry_run, "steps": steps})
    else:
        verb = "would" if dry_run else "did"
        for s in steps:
            what = s["command"] or "(manual step)"
            outcome = f" -> {s['outcome']}" if "outcome" in s else ""
            console.print(
                f"{s['step']}. {verb} {s['action']}: {escape(what)}{escape(outcome)}", highlight=False
            )
    if failed:
        raise typer.Exit(1)
