"""The ``recops`` command: a thin Typer face over the library.

Exit codes: 0 ok, 1 a check failed, 2 bad input or usage (errors.py decides which).
"""

from __future__ import annotations

import inspect
import sys
from importlib import import_module
from typing import Annotated, Any

import typer
from rich.markup import escape

from recops import __version__
from recops.cli.output import err_console
from recops.errors import RecopsError

# Command name → the module under recops.cli that registers it, and the summary that
# `recops --help` lists for it, in the order listed. A run imports only the module of
# the command it was given (each pulls in its part of the library), so `recops sql` does
# not pay for the registry, Spark or the drift engine, and `recops --help` imports none
# (tests/unit/cli checks that it prints what the full command tree would).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("workspace", "Create a workspace: recops.toml, the lake folder and the metadata store."),
    "ingest": ("ingest", "Validate, deduplicate and store contract records; refused ones go to quarantine."),
    "sql": ("sql", "Run read-only SQL (DuckDB dialect) over the lake and the store."),
    "drift": ("drift", "Compare two datasets column by column: test, statistic, threshold, verdict."),
    "lineage": ("lineage", "Lineage graph: upstream partitions → datasets → MODEL@VERSION → aliases."),
    "trace": (
        "trace",
        "What happened to one request: context, model and lineage, candidates by source, the slate,\n"
        "features with their age against the TTL, stage latencies and the outcomes that followed.",
    ),
    "diagnose": ("diagnose", "Rank the likely causes of an alert or of a metric's move, with the evidence."),
    "diff": (
        "diagnose",
        "Compare two windows or two model versions: the metric by slice, the candidate-source mix,\n"
        "feature distributions (drift engine) and latency.",
    ),
    "demo": (
        "demo",
        "Simulate a video-streaming recommender with incidents, ingest it, then serve the dashboard.",
    ),
    "promote": (
        "gate",
        "Point ALIAS at MODEL@VERSION if its latest gate:ALIAS result passed (like `registry alias set`).",
    ),
    "rollback": (
        "rollback",
        "Move MODEL's alias back to the last version that passed its gates and was healthy.",
    ),
    "serve": ("serve", "Serve the REST API, HTTP ingest, /metrics and the dashboard."),
    "config": ("workspace", "Check workspace settings."),
    "lake": ("lake", "Look after the lake: status, compaction, retention, vacuum."),
    "monitor": ("monitor", "Compute monitors over the lake and read their series."),
    "metrics": (
        "metrics",
        "The metric catalog: what each metric means, how it is computed, its threshold, SLO and owner.",
    ),
    "alerts": (
        "alerts",
        "Alerts: list, acknowledge, resolve, silence; deliver notifications; export to Prometheus.",
    ),
    "registry": ("registry", "Model registry: versions, lineage, aliases, validations and the audit log."),
    "gate": ("gate", "Deployment gates: checks a version must pass before an alias moves."),
    "playbook": (
        "playbook",
        "Playbooks: ordered steps per symptom, hotfix options with their measured tradeoffs.",
    ),
    "incident": ("incident", "Incidents: open, track, mitigate, resolve, and write their post-mortems."),
    "token": (
        "serve",
        "API tokens for the server. Roles, each including the ones before it: viewer (reads), ingest (writes "
        "records, registers versions), operator (acks, promotes, rolls back, runs playbooks), admin (manages "
        "tokens).",
    ),
}
#: Arguments that ask for the top-level help alone.
HELP_ONLY: tuple[list[str], ...] = ([], ["--help"], ["-h"])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recops {__version__}")
        raise typer.Exit()


def build_app(commands: list[str] | None = None, *, listing_only: bool = False) -> typer.Typer:
    """The Typer app with ``commands`` registered (all of them by default).

    With ``listing_only``, every command is a stand-in that only has its summary: enough
    for the top-level help, without importing any command module.
    """
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

    if listing_only:
        for name, (_, summary) in COMMANDS.items():
            app.command(name, help=summary)(_stand_in)
        return app
    modules = dict.fromkeys(COMMANDS[c][0] for c in (commands or COMMANDS))
    for module in modules:
        import_module(f"recops.cli.{module}").register(app)
    listed = list(COMMANDS)  # Typer lists commands, then groups, each in the order registered
    app.registered_commands.sort(key=lambda command: listed.index(command.name or ""))
    app.registered_groups.sort(key=lambda group: listed.index(group.name or ""))
    return app


def cli_command(commands: list[str] | None = None, *, listing_only: bool = False) -> Any:
    """The click command of ``build_app(...)`` (Typer's vendored click), its help printed as written."""
    command = typer.main.get_command(build_app(commands, listing_only=listing_only))
    _readable_help(command)
    return command


def _readable_help(command: Any) -> None:
    """Make help texts print as written under Typer's Rich markup, for ``command`` and below.

    Rich reads ``[section]`` as a style tag and drops it (``[detection] enabled``, say),
    and Typer keeps a docstring's single line breaks inside Rich's own wrapping (ragged
    lines): brackets are escaped, and the lines of a paragraph joined unless indented
    (examples) or a list.
    """
    command.help = _as_written(command.help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _as_written(param.help)
    for sub in getattr(command, "commands", {}).values():  # a group (Typer's own click)
        _readable_help(sub)


def _as_written(text: str | None) -> str | None:
    if not text:
        return text
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        if any(line.startswith((" ", "- ", "* ")) for line in lines):
            paragraphs.append(paragraph)
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return escape("\n\n".join(paragraphs))


def _stand_in() -> None:  # pragma: no cover - never run: a command imports its module first
    raise RecopsError("internal error: a command ran without its module")


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
    if sys.argv[1:] in HELP_ONLY or (command not in COMMANDS and not command.startswith("-")):
        cli = cli_command(listing_only=True)  # the help, or "No such command" with the list
    else:
        cli = cli_command([command] if command in COMMANDS else None)
    try:
        cli(prog_name="recops")  # standalone: click reports usage errors itself, with exit code 2
    except RecopsError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
