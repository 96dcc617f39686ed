"""``recops init`` and ``recops config validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recops.cli.options import JsonOption, WorkspaceOption
from recops.cli.output import console, print_json, print_pairs
from recops.config import CONFIG_FILE, load_config
from recops.workspace import Workspace, find_root

config_app = typer.Typer(help="Check workspace settings.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(config_app, name="config")


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path("."),
    store_url: Annotated[
        str | None,
        typer.Option(help="Metadata store URL (default: SQLite in the workspace)."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Create a workspace: recops.toml, the lake folder and the metadata store.

    Example: recops init ./ops && cd ops && recops ingest requests ../logs/
    """
    with Workspace.init(directory, store_url=store_url) as ws:
        info = {
            "workspace": str(ws.config.root),
            "config": str(ws.config.path),
            "data_dir": str(ws.config.data_dir),
            "store": ws.store.engine.url.render_as_string(),
        }
    if json:
        print_json(info)
        return
    console.print(f"[green]created workspace[/] {info['workspace']}")
    console.print(f"edit {info['config']} for time zone, SLOs, feature groups and sources")


@config_app.command("validate")
def validate(
    path: Annotated[
        Path | None, typer.Argument(help=f"A {CONFIG_FILE} to check (default: the workspace's).")
    ] = None,
    workspace: WorkspaceOption = None,
    json: JsonOption = False,
) -> None:
    """Check a config file without running anything; errors name the key and the file."""
    from recops.store.store import make_engine

    target = path if path is not None else find_root(workspace) / CONFIG_FILE
    cfg = load_config(target)
    make_engine(cfg.store_url).dispose()  # its driver is installed and supported; nothing connects
    summary = {"config": str(cfg.path), "valid": True, **cfg.summary()}
    if json:
        print_json(summary)
        return
    print_pairs([(k, v) for k, v in summary.items()], title=f"{target} is valid")
