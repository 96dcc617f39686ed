"""The ``recops`` command: a thin Typer face over the library.

Exit codes: 0 ok, 1 a check failed, 2 bad input or usage (errors.py decides which).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from recops import __version__
from recops.cli import demo, ingest, lake, sql, workspace
from recops.cli import drift as drift_cmd
from recops.cli import lineage as lineage_cmd
from recops.cli import registry as registry_cmd
from recops.cli.output import err_console
from recops.errors import RecopsError

app = typer.Typer(
    name="recops",
    help=(
        "recops: the operational layer around production recommenders.\n\n"
        "Start with `recops demo`, or `recops init` then `recops ingest`. Every command "
        "takes --json for scripts; exit codes are 0 ok, 1 a check failed, 2 bad input."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recops {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """recops command line."""


workspace.register(app)
ingest.register(app)
sql.register(app)
app.add_typer(lake.app, name="lake")
app.add_typer(registry_cmd.app, name="registry")
lineage_cmd.register(app)
demo.register(app)
drift_cmd.register(app)


def run() -> None:
    """Console-script entry point: map recops errors to a message and an exit code."""
    try:
        app()  # standalone: click reports usage errors itself, with exit code 2
    except RecopsError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
