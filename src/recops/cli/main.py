"""The ``recops`` command: a thin Typer face over the library.

Exit codes: 0 ok, 1 a check failed, 2 bad input or usage (errors.py decides which).
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Annotated, Any

import typer

from recops import __version__
from recops.cli.output import err_console
from recops.errors import RecopsError

# Command name → the module under recops.cli that registers it. A run imports only the
# module of the command it was given (each pulls in its part of the library), so
# `recops sql` does not pay for the registry, Spark or the drift engine.
COMMANDS: dict[str, str] = {
    "init": "workspace",
    "config": "workspace",
    "ingest": "ingest",
    "sql": "sql",
    "lake": "lake",
    "monitor": "monitor",
    "metrics": "metrics",
    "alerts": "alerts",
    "drift": "drift",
    "registry": "registry",
    "lineage": "lineage",
    "trace": "trace",
    "diagnose": "diagnose",
    "diff": "diagnose",
    "demo": "demo",
    "gate": "gate",
    "promote": "gate",
    "rollback": "rollback",
    "playbook": "playbook",
    "incident": "incident",
    "serve": "serve",
    "token": "serve",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recops {__version__}")
        raise typer.Exit()


def build_app(commands: list[str] | None = None) -> typer.Typer:
    """The Typer app with ``commands`` registered (all of them by default)."""
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

    @app.callback()
    def main(
        version: Annotated[
            bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
        ] = False,
    ) -> None:
        """recops command line."""

    modules = dict.fromkeys(COMMANDS[c] for c in (commands or COMMANDS))
    for name in modules:
        import_module(f"recops.cli.{name}").register(app)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole CLI, for tests and tools that introspect it
        return build_app()
    raise AttributeError(name)


def run() -> None:
    """Console-script entry point: map recops errors to a message and an exit code."""
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "--version":  # answered before any command module is imported
        print(f"recops {__version__}")
        return
    app = build_app([command] if command in COMMANDS else None)
    try:
        app()  # standalone: click reports usage errors itself, with exit code 2
    except RecopsError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
