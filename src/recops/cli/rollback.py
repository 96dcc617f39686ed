"""``recops rollback MODEL``: move the serving alias back to the last good version."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json, print_pairs
from recops.workspace import Workspace


def register(parent: typer.Typer) -> None:
    parent.command("rollback")(rollback_cmd)


def rollback_cmd(
    model: Annotated[str, typer.Argument(help="The model whose alias moves back.", show_default=False)],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Target version (default: the last good one).", show_default=False),
    ] = None,
    alias: Annotated[str, typer.Option("--alias", help="The serving alias.")] = "production",
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (kept in the audit log and the change record).")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Move MODEL's alias back to the last version that passed its gates and was healthy.

    Healthy: no alert attributed to the version (slice model_version=V, or a group whose
    cause is model_version:V) overlapped its last window on the alias. The move is
    audited and recorded as a `rollback` change in the lake; the serving lookup returns
    the new version at once.
    """
    from recops.respond.rollback import rollback

    with Workspace.open(workspace) as ws:
        result = rollback(ws.store, ws.lake, model, to=to, alias=alias, reason=reason)
    if json:
        print_json(result.to_dict())
        return
    print_pairs(
        [
            ("alias", f"{result.model}:{result.alias}"),
            ("from", result.from_version),
            ("to", result.to_version),
            ("at", result.at.isoformat()),
            ("actor", result.actor),
            ("reason", result.reason),
            ("audit entry", result.audit_seq),
        ],
        title="rollback",
    )
    for c in result.candidates:
        console.print(f"  {escape(c.version)}: {escape(c.why())}", highlight=False)
