"""``recops serve`` and ``recops token``: the server and the API tokens it checks."""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, err_console, print_json, print_table
from recops.workspace import Workspace

token_app = typer.Typer(
    help="API tokens for the server. Roles, each including the ones before it: "
    "viewer (reads), ingest (writes records, registers versions), operator (acks, promotes, "
    "rolls back, runs playbooks), admin (manages tokens).",
    no_args_is_help=True,
)


def register(parent: typer.Typer) -> None:
    parent.command("serve")(serve_cmd)
    parent.add_typer(token_app, name="token")


def serve_cmd(
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default [server] host: 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="TCP port (default [server] port: 8000).")
    ] = None,
    no_schedule: Annotated[
        bool, typer.Option("--no-schedule", help="Do not run monitors and detection on a schedule.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the REST API, HTTP ingest, /metrics and the dashboard.

    The API is documented at /api/docs. Every request needs a token (`recops token
    create`); the dashboard signs in with one. Beyond 127.0.0.1 the server refuses to
    start until a token exists. The scheduler computes the monitors and detection over
    newly ingested data every [server] schedule_seconds.

    Example: recops token create me --role admin && recops serve --port 8000
    """
    from recops.server.serve import serve

    with Workspace.open(workspace) as ws:
        bind_host = host or ws.config.server.host
        bind_port = port or ws.config.server.port
        err_console.print(
            f"recops serving {ws.config.root} at http://{bind_host}:{bind_port}/ (Ctrl-C stops)"
        )
        serve(ws, host=bind_host, port=bind_port, schedule=not no_schedule)


@token_app.command("create")
def create_cmd(
    name: Annotated[str, typer.Argument(help="A name for the holder (kept in the audit log).")],
    role: Annotated[str, typer.Option("--role", help="viewer | ingest | operator | admin")] = "viewer",
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Create a token and print it once (only its digest is stored).

    Example: recops token create grafana --role viewer
    """
    from recops.registry.versions import default_actor
    from recops.server.tokens import create_token

    with Workspace.open(workspace) as ws:
        secret = create_token(ws.store, name, role, created_by=default_actor())
    if json:
        print_json({"name": name, "role": role, "token": secret})
        return
    console.print(secret, highlight=False, soft_wrap=True)
    err_console.print("keep it now: recops stores only its digest and cannot show it again")


@token_app.command("list")
def list_cmd(workspace: WorkspaceOption = None, json: JsonOption = False) -> None:
    """List tokens (names, roles, revoked or not; never the secrets)."""
    from recops.server.tokens import list_tokens

    with Workspace.open(workspace) as ws:
        tokens = [t.to_dict() for t in list_tokens(ws.store)]
    if json:
        print_json(tokens)
        return
    columns = ("id", "name", "role", "created_at", "created_by", "revoked_at")
    print_table(pa.table({c: [str(t[c] or "") for t in tokens] for c in columns}), title="tokens")


@token_app.command("revoke")
def revoke_cmd(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    from recops.registry.versions import default_actor
    from recops.server.tokens import revoke_token

    with Workspace.open(workspace) as ws:
        info = revoke_token(ws.store, name, actor=default_actor())
    if json:
        print_json(info.to_dict())
        return
    console.print(f"revoked {info.name} ({info.role})")
