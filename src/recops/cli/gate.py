"""``recops gate check`` and ``recops promote``: deployment gates and gated alias moves.

Exit codes of ``gate check``: 0 every check passed, 1 a check failed, was inconclusive or
marginal (unless the policy allows marginal), 2 bad input. ``promote`` exits 1 when the
version's latest ``gate:<alias>`` result did not pass and no override was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json
from recops.errors import InvalidInput
from recops.registry._canonical import iso, parse_time
from recops.registry.entities import check_alias_name, parse_ref
from recops.registry.versions import default_actor
from recops.respond.gates.promote import promote
from recops.respond.gates.result import Period
from recops.respond.gates.run import run_gate
from recops.workspace import Workspace

app = typer.Typer(
    help="Deployment gates: checks a version must pass before an alias moves.", no_args_is_help=True
)

STYLE = {"pass": "green", "marginal": "yellow", "inconclusive": "yellow", "fail": "bold red"}


@app.command("check")
def check_cmd(
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Target alias (e.g. production).", show_default=False)],
    canary_from: Annotated[str | None, typer.Option(help="Canary window start (ISO 8601).")] = None,
    canary_to: Annotated[str | None, typer.Option(help="Canary window end (ISO 8601).")] = None,
    propensities: Annotated[
        Path | None, typer.Option(help="Parquet: request_id, item_id, position, propensity of the candidate.")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Run the gate policy (gates.yaml) for MODEL@VERSION → ALIAS and record the result."""
    model, version = parse_ref(ref)
    check_alias_name(to)
    if (canary_from is None) != (canary_to is None):
        raise InvalidInput("give both --canary-from and --canary-to, or neither")
    window = Period(parse_time(canary_from), parse_time(canary_to)) if canary_from and canary_to else None
    if window is not None and window.end <= window.start:
        raise InvalidInput("--canary-to must be after --canary-from")
    if propensities is not None and not propensities.exists():
        raise InvalidInput(f"propensities file not found: {propensities}")
    with Workspace.open(workspace) as ws:
        report, stored = run_gate(
            ws.store,
            ws.lake,
            ws.config,
            model,
            version,
            to,
            canary_window=window,
            propensities=propensities,
            actor=default_actor(),
        )
    if json:
        print_json({**report.to_json(), "audit_seq": stored.audit_seq if stored else None})
    else:
        w = report.canary_window
        console.print(
            f"gate [bold]{ref}[/] → {to} (control {report.control or '-'}"
            + (f", canary {iso(w.start)} … {iso(w.end)}" if w else "")
            + f"; policy: {report.policy.source})"
        )
        for c in report.checks:
            console.print(
                f"  [{STYLE[c.status]}]{c.status:<12}[/] {c.check:<16} {escape(c.summary)}",
                highlight=False,
                soft_wrap=True,
            )
            for x in c.evidence.get("comparisons", []):
                if x.get("status") == "fail":
                    change = x.get("relative_change")
                    extra = f" {change:+.1%}" if isinstance(change, float) else ""
                    extra += f" (p={x.get('p_value', 0):.2g})"
                    console.print(
                        f"{'':16}failed {x['metric']} {escape(x['slice'])}{extra}",
                        highlight=False,
                        soft_wrap=True,
                    )
        verdict = "[green]PASSED[/]" if report.passed else "[bold red]BLOCKED[/]"
        console.print(f"{verdict} ({report.status}); stored as gate:{to}")
    if not report.passed:
        raise typer.Exit(1)


def promote_cmd(
    ref: Annotated[str, typer.Argument(metavar="MODEL@VERSION", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Alias to move (e.g. production).", show_default=False)],
    override: Annotated[
        bool, typer.Option(help="Move even though the gate did not pass; needs --reason.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the history and the audit log).")] = None,
    at: Annotated[str | None, typer.Option(help="When it took effect (ISO 8601; default now).")] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Point ALIAS at MODEL@VERSION if its latest gate:ALIAS result passed (like `registry alias set`)."""
    model, version = parse_ref(ref)
    with Workspace.open(workspace) as ws:
        event, gate = promote(
            ws.store, model, version, to, override=override, reason=reason, at=parse_time(at) if at else None
        )
    if json:
        print_json(
            {
                "model": model,
                "alias": to,
                "version": version,
                "moved": event is not None,
                "event": event.to_dict() if event else None,
                "gate": gate.to_dict() if gate else None,
            }
        )
    elif event is None:
        console.print(f"{model}:{to} already names {version}; nothing changed")
    else:
        note = " [yellow](override, audited)[/]" if event.override else ""
        console.print(f"{model}:{to} → [bold]{version}[/] from {iso(event.at)}{note}")
        if event.override:
            err_console.print(f"override reason: {reason}", highlight=False)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="gate")
    parent.command("promote")(promote_cmd)
